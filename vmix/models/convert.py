"""Official checkpoints → vmix by renaming and reshaping only, with strict checking.

A family declares a :class:`KeyMap`: a table of key-prefix renames between the official layout and vmix (``{i}``,
``{j}`` stand for indices), optional one-way renames of older official names, and the vmix keys whose tensors may be
reshaped (same number of elements: ``(out, in, 1, 1)`` Linear weights, grouped projections stored flat). Nothing
else is allowed to change, and anything that does not line up (a missing or unexpected key, a shape that differs)
is an error naming it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor, nn

__all__ = ["KeyMap", "load_official", "strict_load", "unwrap_checkpoint"]


def _compile(template: str) -> re.Pattern:
    return re.compile(re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{j\}", r"(?P<j>\d+)"))


def _rename(key: str, rules: tuple[tuple[re.Pattern, str], ...]) -> str:
    for pattern, template in rules:
        match = pattern.match(key)
        if match:
            return template.format(**match.groupdict()) + key[match.end() :]
    return key


@dataclass(frozen=True)
class KeyMap:
    """How one family's official state_dict keys map onto vmix's.

    Attributes:
        renames: ``(official_prefix, vmix_prefix)`` pairs; the first pair whose prefix matches the start of a key
            renames it, and keys that match none keep their name. Works in both directions.
        legacy: one-way ``(old_prefix, official_prefix)`` pairs for older releases, applied before ``renames``, each
            in turn (so one key may take several).
        reshape: regular expressions of vmix keys whose tensors may arrive with another shape of the same size.

    Example:
        >>> km = KeyMap(renames=(("patch_embed.0.", "stem.conv1."),))
        >>> km.official_to_vmix_key("patch_embed.0.weight"), km.vmix_to_official_key("stem.conv1.bias")
        ('stem.conv1.weight', 'patch_embed.0.bias')
    """

    renames: tuple[tuple[str, str], ...]
    legacy: tuple[tuple[str, str], ...] = ()
    reshape: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_forward", tuple((_compile(o), v) for o, v in self.renames))
        object.__setattr__(self, "_backward", tuple((_compile(v), o) for o, v in self.renames))
        object.__setattr__(self, "_legacy", tuple((_compile(o), n) for o, n in self.legacy))
        object.__setattr__(self, "_reshape", tuple(re.compile(p) for p in self.reshape))

    def official_to_vmix_key(self, key: str) -> str:
        """The vmix name of an official (or legacy) key."""
        for rule in self._legacy:
            key = _rename(key, (rule,))
        return _rename(key, self._forward)

    def vmix_to_official_key(self, key: str) -> str:
        """The official name of a vmix key."""
        return _rename(key, self._backward)

    def to_vmix(self, state_dict: Mapping[str, Tensor], target: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Rename an official state_dict and reshape the allowed tensors to ``target``'s shapes, strictly.

        Raises:
            ValueError: naming every missing key, unexpected key and shape mismatch.
        """
        out: dict[str, Tensor] = {}
        for key, value in state_dict.items():
            new = self.official_to_vmix_key(key)
            if new in out:
                raise ValueError(f"two checkpoint keys map to {new!r} (the second is {key!r})")
            want = target.get(new)
            if (
                want is not None
                and value.shape != want.shape
                and value.numel() == want.numel()
                and any(p.search(new) for p in self._reshape)
            ):
                value = value.reshape(want.shape)
            out[new] = value
        check_keys(out, target)
        return out

    def to_official(self, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Rename a vmix state_dict to the official layout (tensors unchanged)."""
        return {self.vmix_to_official_key(k): v for k, v in state_dict.items()}


def _listing(keys, limit: int = 12) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def check_keys(state_dict: Mapping[str, Tensor], target: Mapping[str, Tensor]) -> None:
    """Raise a ValueError naming the keys missing from, unexpected in, or shaped unlike ``target``."""
    missing = set(target) - set(state_dict)
    unexpected = set(state_dict) - set(target)
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(target[k].shape)}"
        for k in sorted(set(state_dict) & set(target))
        if state_dict[k].shape != target[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {'; '.join(shapes[:12])}")
    if problems:
        raise ValueError("state_dict does not fit the model:\n  " + "\n  ".join(problems))


def strict_load(model: nn.Module, state_dict: Mapping[str, Tensor]) -> nn.Module:
    """``model.load_state_dict(state_dict)`` after :func:`check_keys`, so errors name every offending key."""
    check_keys(state_dict, model.state_dict())
    model.load_state_dict(state_dict, strict=True)
    return model


def unwrap_checkpoint(checkpoint: Mapping, *, ema: bool = False) -> Mapping[str, Tensor]:
    """The weights inside a training checkpoint: under ``"model"`` (or ``"model_ema"`` with ``ema``, or
    ``"state_dict"``), with a DistributedDataParallel ``module.`` prefix removed.

    Example:
        >>> import torch
        >>> unwrap_checkpoint({"model": {"module.w": torch.zeros(1)}, "epoch": 3}).keys()
        dict_keys(['w'])
    """
    order = ("model_ema", "model", "state_dict") if ema else ("model", "state_dict")
    for key in order:
        if isinstance(checkpoint.get(key), Mapping):
            checkpoint = checkpoint[key]
            break
    else:
        if ema:
            raise KeyError("ema=True but the checkpoint has no 'model_ema' (or 'model') entry")
    if checkpoint and all(k.startswith("module.") for k in checkpoint):
        checkpoint = {k[len("module.") :]: v for k, v in checkpoint.items()}
    bad = [k for k, v in checkpoint.items() if not isinstance(v, Tensor)]
    if bad:
        raise ValueError(f"expected a state_dict of tensors; entries that are not tensors: {_listing(bad)}")
    return checkpoint


def family_of(name: str):
    """The family module that registers ``name`` (its converter lives there)."""
    from vmix.models._registry import FAMILIES, get_config

    get_config(name)  # unknown names fail here, with suggestions
    family = name.split("_", 1)[0]
    if family not in FAMILIES:
        raise ValueError(f"model {name!r} belongs to no family with official checkpoints ({', '.join(FAMILIES)})")
    return importlib.import_module(f"vmix.models.families.{family}")


def load_official(name: str, checkpoint: Mapping, *, ema: bool = False, **overrides) -> nn.Module:
    """Build ``name`` and load an official checkpoint (VMamba, MambaOut incl. timm's layout, VSSD) into it.

    Args:
        name: a registered model name.
        checkpoint: the loaded checkpoint file (``torch.load(path, map_location="cpu")``) or a bare state_dict.
        ema: load the EMA weights (``"model_ema"``) when present.
        **overrides: passed to :func:`~vmix.models.create_model` (e.g. ``num_classes`` to match the checkpoint).

    Returns:
        The model with the checkpoint's weights, in training mode as built.

    Raises:
        ValueError: a key missing, unexpected or of the wrong shape (each named), or a family without checkpoints.

    Example:
        >>> import vmix
        >>> from vmix.models.families.vmamba import KEYMAP
        >>> official = KEYMAP.to_official(vmix.create_model("vmamba_pico").state_dict())
        >>> model = load_official("vmamba_pico", {"model": official})
    """
    from vmix.models._registry import create_model

    family = family_of(name)
    model = create_model(name, **overrides)
    return strict_load(model, family.convert(unwrap_checkpoint(checkpoint, ema=ema), model))
