"""Model configurations as data: what a :class:`~vmix.models.Backbone` is built from.

A model is a stem, four stages of blocks with a downsample between stages, and a head. A config names the kind of
each part and, per block, the block kind and its token mixer with the mixer's options. Families (VMamba, GConvNet,
VSSD, MambaOut) are values of these dataclasses; variants are transformations of them (:func:`hybridize`,
:func:`dataclasses.replace`), never copies of model code. This is what makes the GConvNet paper's "architecturally
aligned comparison" a one-line change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BLOCK_KINDS",
    "DOWNSAMPLE_KINDS",
    "HEAD_KINDS",
    "MIXER_KINDS",
    "STEM_KINDS",
    "BlockConfig",
    "ModelConfig",
    "StageConfig",
    "hybrid_positions",
    "hybridize",
    "uniform_stages",
]

STEM_KINDS = ("conv2", "vssd_conv", "vssd_patch")
"""``conv2``: VMamba/MambaOut "v2" stem (two 3×3 stride-2 convs with LN); ``vssd_conv``: VSSD's MLLA-style BN stem;
``vssd_patch``: VSSD's 4×4 patchify stem of the Table 5 ablation."""

DOWNSAMPLE_KINDS = ("conv_ln", "mlla", "patch")
"""``conv_ln``: 3×3 stride-2 conv + LN (VMamba v3, MambaOut); ``mlla``: VSSD's 1×1 → DW 3×3/s2 → 1×1 + BN;
``patch``: VSSD's ablation downsample, 3×3/s2 conv → ReLU → LN."""

HEAD_KINDS = ("norm_pool_linear", "pool_norm_mlp")
"""``norm_pool_linear``: LN on the map → global mean → Linear (VMamba, VSSD); ``pool_norm_mlp``: global mean → LN →
MLP head with hidden LN (MambaOut; without the MLP when ``head_hidden_ratio`` is 0)."""

BLOCK_KINDS = ("vss", "transformer", "vssd", "gated_cnn")
"""``vss``: norm → mixer → residual, norm → FFN → residual (VMamba, GConvNet); ``transformer``: a CPE residual in front
of a ``vss`` block (GConvNet Eq. 2); ``vssd``: LPU, norm → mixer, LPU, norm → FFN (VSSD); ``gated_cnn``: MambaOut's
Gated CNN block (token and channel mixing in one residual branch, no mixer)."""

MIXER_KINDS: dict[str, str | type] = {
    "ss2d": "SS2D",
    "gated_dwconv": "GatedDWConv",
    "attention": "Attention",
    "nc_ssd": "NCSSD",
    "ssd": "SSD",
    "bi_ssd": "BiSSD",
}
"""Mixer kind → the class built for it (called as ``cls(dim, **mixer_options)``): a :mod:`vmix.layers` class name,
or a class added by :func:`register_mixer`."""


def register_mixer(kind: str, cls: type) -> type:
    """Let configs name ``cls`` as a token mixer: ``BlockConfig("vss", kind, options)`` builds ``cls(dim, **options)``.

    This is how a mixer of your own joins an aligned comparison: the macro architecture, the FFN, the norms and the
    recipe stay; only the mixer changes. ``cls`` must map channels-last maps ``(B, H, W, C) -> (B, H, W, C)``.

    Args:
        kind: the name configs use; must not be taken by another class.
        cls: an ``nn.Module`` subclass whose constructor takes the width as its first argument.

    Returns:
        ``cls``, unchanged.

    Raises:
        ValueError: ``kind`` already names another mixer.
        TypeError: ``cls`` is not an ``nn.Module`` subclass.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> class Identity(nn.Module):
        ...     def __init__(self, dim):
        ...         super().__init__()
        ...     def forward(self, x):
        ...         return x
        >>> _ = register_mixer("identity_example", Identity)
        >>> BlockConfig("vss", "identity_example").mixer
        'identity_example'
    """
    import torch.nn as nn

    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_mixer({kind!r}, ...) needs an nn.Module subclass; got {cls!r}")
    if MIXER_KINDS.get(kind, cls) is not cls:
        raise ValueError(f"mixer kind {kind!r} is taken by {MIXER_KINDS[kind]!r}; choose another name")
    MIXER_KINDS[kind] = cls
    return cls


def _check_kind(value: str, allowed, what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(allowed)}")


@dataclass(frozen=True)
class BlockConfig:
    """One block: its kind, its token mixer and the mixer's keyword options.

    Attributes:
        kind: one of :data:`BLOCK_KINDS`.
        mixer: one of :data:`MIXER_KINDS`; ``None`` for ``gated_cnn`` (the block is its own mixer).
        mixer_options: keyword arguments of the mixer class (``d_state``, ``heads``, ...), or of the Gated CNN block
            (``kernel_size``, ``conv_ratio``).
        mlp_ratio: FFN hidden width over ``C`` (4 in VMamba/VSSD/Transformer blocks, 3 in GConvNet); for
            ``gated_cnn`` the block's expansion ratio (8/3).
        norm_eps: eps of the block's LayerNorms (1e-5 VMamba/VSSD, 1e-6 MambaOut).

    Example:
        >>> BlockConfig("vss", "gated_dwconv", {"kernel_size": 7}, mlp_ratio=3.0).mixer
        'gated_dwconv'
    """

    kind: str
    mixer: str | None = None
    mixer_options: Mapping[str, Any] = field(default_factory=dict)
    mlp_ratio: float = 4.0
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        _check_kind(self.kind, BLOCK_KINDS, "block kind (BlockConfig.kind)")
        if self.kind == "gated_cnn":
            if self.mixer is not None:
                raise ValueError(f"a gated_cnn block has no separate mixer; got mixer={self.mixer!r}")
        else:
            _check_kind(self.mixer, MIXER_KINDS, "mixer (BlockConfig.mixer)")
        if self.kind == "transformer" and self.mixer != "attention":
            raise ValueError(f"a transformer block mixes with 'attention'; got mixer={self.mixer!r}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"BlockConfig.mlp_ratio must be positive; got {self.mlp_ratio}")


@dataclass(frozen=True)
class StageConfig:
    """One stage: its width and its blocks in order (the depth is ``len(blocks)``).

    Example:
        >>> block = BlockConfig("vss", "ss2d")
        >>> StageConfig(96, (block, block)).depth
        2
    """

    dim: int
    blocks: tuple[BlockConfig, ...]

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"StageConfig.dim must be positive; got {self.dim}")
        if not self.blocks:
            raise ValueError("StageConfig.blocks must hold at least one block")

    @property
    def depth(self) -> int:
        """Number of blocks."""
        return len(self.blocks)


@dataclass(frozen=True)
class ModelConfig:
    """A whole backbone: stem, four stages with downsamples between them, head.

    Attributes:
        stem: one of :data:`STEM_KINDS`; reduces the input by 4.
        downsample: one of :data:`DOWNSAMPLE_KINDS`; halves the map between consecutive stages.
        stages: the stages, widths growing; features are taken at the end of each (strides 4, 8, 16, 32).
        head: one of :data:`HEAD_KINDS`.
        head_hidden_ratio: hidden width of the ``pool_norm_mlp`` head over the last width (4 in MambaOut); 0 leaves
            the MLP out (pool → LN → Linear).
        norm_eps: eps of the LayerNorms outside the blocks (stem, downsample, head).
        num_classes: classifier outputs; 0 gives a model without the final Linear (pooled features out).
        in_chans: input channels.
        drop_path_rate: stochastic depth of the last block; block ``i`` gets ``linspace(0, rate, total)[i]``.
        conv_init: ``"default"`` keeps PyTorch's Conv2d init (VMamba, VSSD); ``"trunc_normal"`` gives convs the
            Linears' trunc_normal(0.02) (MambaOut).

    Example:
        >>> from vmix.models import get_config
        >>> cfg = get_config("vmamba_tiny")
        >>> [s.depth for s in cfg.stages], cfg.dims
        ([2, 2, 5, 2], (96, 192, 384, 768))
    """

    stem: str
    downsample: str
    stages: tuple[StageConfig, ...]
    head: str = "norm_pool_linear"
    head_hidden_ratio: float = 4.0
    norm_eps: float = 1e-5
    num_classes: int = 1000
    in_chans: int = 3
    drop_path_rate: float = 0.0
    conv_init: str = "default"

    def __post_init__(self) -> None:
        _check_kind(self.stem, STEM_KINDS, "stem kind (ModelConfig.stem)")
        _check_kind(self.downsample, DOWNSAMPLE_KINDS, "downsample kind (ModelConfig.downsample)")
        _check_kind(self.head, HEAD_KINDS, "head kind (ModelConfig.head)")
        _check_kind(self.conv_init, ("default", "trunc_normal"), "conv init (ModelConfig.conv_init)")
        if len(self.stages) != 4:
            raise ValueError(f"ModelConfig.stages must hold 4 stages (strides 4, 8, 16, 32); got {len(self.stages)}")
        if self.num_classes < 0:
            raise ValueError(f"ModelConfig.num_classes must be >= 0; got {self.num_classes}")
        if self.head_hidden_ratio < 0:
            raise ValueError(f"ModelConfig.head_hidden_ratio must be >= 0; got {self.head_hidden_ratio}")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(f"ModelConfig.drop_path_rate must be in [0, 1); got {self.drop_path_rate}")

    @property
    def dims(self) -> tuple[int, ...]:
        """Stage widths."""
        return tuple(s.dim for s in self.stages)

    @property
    def depths(self) -> tuple[int, ...]:
        """Blocks per stage."""
        return tuple(s.depth for s in self.stages)


def uniform_stages(
    dims: Sequence[int], depths: Sequence[int], block: BlockConfig, per_stage: Sequence[Mapping[str, Any]] = ()
) -> tuple[StageConfig, ...]:
    """Stages whose blocks are all ``block``, optionally with per-stage mixer options merged in (heads per stage).

    Example:
        >>> stages = uniform_stages([48, 96, 192, 384], [2, 2, 5, 2], BlockConfig("vss", "ss2d"))
        >>> [s.depth for s in stages]
        [2, 2, 5, 2]
    """
    if len(dims) != len(depths):
        raise ValueError(f"dims and depths must have the same length; got {len(dims)} and {len(depths)}")
    per_stage = list(per_stage) or [{}] * len(dims)
    stages = []
    for dim, depth, extra in zip(dims, depths, per_stage, strict=True):
        stage_block = dataclasses.replace(block, mixer_options={**block.mixer_options, **extra})
        stages.append(StageConfig(dim, (stage_block,) * depth))
    return tuple(stages)


def hybrid_positions(depths: Sequence[int], n_attn: int, strategy: str) -> list[tuple[int, int]]:
    """``(stage, block)`` indices that :func:`hybridize` turns into Transformer blocks (GConvNet paper, §3.2).

    ``"top_down"`` (Hybrid2) replaces blocks from the head backwards: the last stage's blocks from its top, then
    the third stage's. ``"proportional"`` (Hybrid1, the paper's default) replaces the top blocks of the last two
    stages in proportion to their depths, keeping at least one in each: the share of the last stage is
    ``max(1, round(n_attn · d4 / (d3 + d4)))``, so ``[2,2,5,2]`` with 2 gives (1 at 1/16, 1 at 1/32) and
    ``[2,2,15,2]`` with 4 gives (3, 1).

    Example:
        >>> hybrid_positions([2, 2, 5, 2], 2, "proportional")
        [(2, 4), (3, 1)]
        >>> hybrid_positions([2, 2, 5, 2], 2, "top_down")
        [(3, 0), (3, 1)]
    """
    d3, d4 = depths[2], depths[3]
    if not 0 < n_attn <= d3 + d4:
        raise ValueError(f"n_attn must be in [1, {d3 + d4}] (blocks of the last two stages); got {n_attn}")
    if strategy == "top_down":
        in4 = min(n_attn, d4)
    elif strategy == "proportional":
        if n_attn < 2:
            raise ValueError("strategy 'proportional' places attention in both of the last two stages: n_attn >= 2")
        in4 = min(d4, max(1, round(n_attn * d4 / (d3 + d4))))
    else:
        raise ValueError(f"unknown hybrid strategy {strategy!r}; expected 'proportional' or 'top_down'")
    in3 = n_attn - in4
    return [(2, j) for j in range(d3 - in3, d3)] + [(3, j) for j in range(d4 - in4, d4)]


def hybridize(
    config: ModelConfig,
    n_attn: int,
    strategy: str = "proportional",
    *,
    head_dim: int = 32,
    mlp_ratio: float = 4.0,
    qkv_bias: bool = True,
) -> ModelConfig:
    """Replace ``n_attn`` blocks of the last two stages by Transformer blocks (CPE, MSA, FFN with ratio 4).

    Depths are unchanged: blocks are replaced, not added, at the positions :func:`hybrid_positions` gives. A
    replaced block keeps its norm eps and its slot's drop-path rate.

    Args:
        config: the model to hybridise (any family).
        n_attn: number of Transformer blocks.
        strategy: ``"proportional"`` (Hybrid1) or ``"top_down"`` (Hybrid2).
        head_dim: channels per attention head (32 assumed: the paper does not say).
        mlp_ratio: FFN ratio of the Transformer blocks (4 in Eq. 2).
        qkv_bias: bias on the ``qkv`` projection.

    Returns:
        The new config.

    Example:
        >>> from vmix.models import get_config
        >>> cfg = hybridize(get_config("vmamba_tiny"), 2, "top_down")
        >>> [b.kind for b in cfg.stages[3].blocks]
        ['transformer', 'transformer']
    """
    stages = [list(s.blocks) for s in config.stages]
    for i, j in hybrid_positions(config.depths, n_attn, strategy):
        stages[i][j] = BlockConfig(
            "transformer",
            "attention",
            {"head_dim": head_dim, "qkv_bias": qkv_bias},
            mlp_ratio=mlp_ratio,
            norm_eps=stages[i][j].norm_eps,
        )
    new_stages = tuple(dataclasses.replace(s, blocks=tuple(b)) for s, b in zip(config.stages, stages, strict=True))
    return dataclasses.replace(config, stages=new_stages)
