"""Model names → configs: ``create_model``, ``list_models``, ``register_model``, ``get_config``.

The registry holds configs, not constructors: a registered model is data, and ``create_model`` builds every one of
them through :class:`~vmix.models.Backbone`. The families under :mod:`vmix.models.families` register themselves the
first time the registry is read.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib

from vmix.models.configs import ModelConfig

__all__ = ["create_model", "get_config", "list_models", "register_model"]

FAMILIES = ("vmamba", "gconvnet", "mambaout", "vssd")

_REGISTRY: dict[str, ModelConfig] = {}
_loaded = False


def _load_families() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for family in FAMILIES:
            importlib.import_module(f"vmix.models.families.{family}")


def register_model(name: str, config: ModelConfig, *, overwrite: bool = False) -> ModelConfig:
    """Register ``config`` under ``name`` so that ``create_model(name)`` builds it.

    Args:
        name: registry name, ``family_size[_variant]`` by convention.
        config: the model.
        overwrite: replace an existing entry instead of raising.

    Returns:
        ``config``, so family files can keep the value.

    Example:
        >>> import dataclasses
        >>> cfg = dataclasses.replace(get_config("vmamba_pico"), drop_path_rate=0.1)
        >>> _ = register_model("my_vmamba_pico", cfg)
        >>> "my_vmamba_pico" in list_models("my_*")
        True
    """
    if not isinstance(config, ModelConfig):
        raise TypeError(f"register_model({name!r}, ...) expects a ModelConfig; got {type(config).__name__}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"model {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[name] = config
    return config


def list_models(pattern: str = "*") -> list[str]:
    """Sorted registered names matching the shell-style ``pattern``.

    Example:
        >>> list_models("vmamba_*")[:3]
        ['vmamba_hybrid1_pico', 'vmamba_hybrid1_small', 'vmamba_hybrid1_tiny']
    """
    _load_families()
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern))


def get_config(name: str) -> ModelConfig:
    """The registered config of ``name``.

    Raises:
        KeyError: for an unknown name, suggesting the closest registered names.

    Example:
        >>> get_config("vssd_micro").depths
        (2, 2, 8, 4)
    """
    _load_families()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else "; see vmix.list_models()"
        raise KeyError(f"unknown model {name!r}{hint}")
    return _REGISTRY[name]


def create_model(name: str, **overrides):
    """Build the registered model ``name``, with config fields and build options overridden.

    Args:
        name: a name from :func:`list_models`.
        **overrides: any :class:`~vmix.models.configs.ModelConfig` field (``num_classes``, ``drop_path_rate``,
            ``in_chans``, ...) and the build options ``features_only``, ``out_indices``.

    Returns:
        A :class:`~vmix.models.Backbone`.

    Raises:
        KeyError: unknown name (with suggestions).
        TypeError: an override that is neither a config field nor a build option.

    Example:
        >>> import torch
        >>> model = create_model("vmamba_pico", num_classes=10, drop_path_rate=0.1)
        >>> model(torch.randn(1, 3, 32, 40)).shape
        torch.Size([1, 10])
    """
    from vmix.models.backbone import Backbone

    config = get_config(name)
    build = {k: overrides.pop(k) for k in ("features_only", "out_indices") if k in overrides}
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(
            f"create_model({name!r}): unknown override(s) {unknown}; expected config fields {sorted(fields)} "
            "or features_only / out_indices"
        )
    return Backbone(dataclasses.replace(config, **overrides), **build)
