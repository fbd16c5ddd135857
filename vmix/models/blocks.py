"""The block kinds of the papers, on channels-last maps ``(B, H, W, C) -> (B, H, W, C)``.

Child names follow the official code of the family that uses each block (VMamba ``norm/op/norm2/mlp``, VSSD
``cpe1/norm1/attn/cpe2/norm2/mlp``, MambaOut ``norm/fc1/conv/fc2``), so loading a checkpoint is a short renaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

import vmix.layers as L
from vmix._shapecheck import shapecheck
from vmix.models.configs import MIXER_KINDS, BlockConfig
from vmix.ops.dwconv import dwconv

__all__ = ["GatedCNNBlock", "TransformerBlock", "VSSBlock", "VSSDBlock", "build_block", "build_mixer"]


def build_mixer(dim: int, config: BlockConfig) -> nn.Module:
    """The token mixer ``config.mixer`` of width ``dim``, built from ``config.mixer_options``.

    Example:
        >>> build_mixer(32, BlockConfig("vss", "gated_dwconv")).__class__.__name__
        'GatedDWConv'
    """
    target = MIXER_KINDS[config.mixer]
    cls = getattr(L, target) if isinstance(target, str) else target
    try:
        return cls(dim, **config.mixer_options)
    except TypeError as err:
        raise TypeError(f"bad mixer_options for mixer {config.mixer!r} ({cls.__name__}): {err}") from err


class VSSBlock(nn.Module):
    """The meta block: ``x + DropPath(mixer(LN(x)))``, then ``x + DropPath(FFN(LN₂(x)))`` (VMamba, GConvNet).

    Pre-norm, two residuals, no layer scale, one drop-path rate for both branches (independent masks), as in VMamba's
    ``VSSBlock``. The mixer is any channels-last token mixer, so this one block is VMamba (SS2D) and GConvNet
    (gated depthwise conv) alike.

    Args:
        dim: channels ``C``.
        config: the block's kind, mixer and options.
        drop_path: stochastic-depth rate of this block.

    Example:
        >>> block = VSSBlock(32, BlockConfig("vss", "gated_dwconv"))
        >>> block(torch.randn(2, 5, 7, 32)).shape
        torch.Size([2, 5, 7, 32])
    """

    def __init__(self, dim: int, config: BlockConfig, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=config.norm_eps)
        self.op = build_mixer(dim, config)
        self.norm2 = nn.LayerNorm(dim, eps=config.norm_eps)
        self.mlp = L.Mlp(dim, int(dim * config.mlp_ratio))
        self.drop_path = L.DropPath(drop_path)

    @shapecheck
    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h w c"]:
        """Mix tokens, then channels, each as a pre-norm residual."""
        # The residual stream, the norms and the MLP run on the flat (b, h·w, c) token sequence, not the map. For a
        # graph with convolutions on a GPU, Inductor's layout optimisation gives every 4-D intermediate it is free to
        # lay out channels-last strides; for a (b, h, w, c) tensor that makes h the innermost axis, so the kernels
        # writing and reading it (the norms' saved activations, the residual sums) work transposed, at a fraction of
        # the memory bandwidth. A 3-D tensor has no such layout (bench/RESULTS.md: 1.1-1.2x on whole models).
        h, w = x.shape[1:3]
        t = x.flatten(1, 2)
        t = t + self.drop_path(self.op(self.norm(t).unflatten(1, (h, w))).flatten(1, 2))
        return (t + self.drop_path(self.mlp(self.norm2(t)))).unflatten(1, (h, w))


class TransformerBlock(VSSBlock):
    """The hybrids' Transformer block (GConvNet paper, Eq. 2): a CPE residual, then a meta block with global MSA.

    ``x ← x + DWConv3×3(x)``; ``x ← x + DropPath(MSA(LN(x)))``; ``x ← x + DropPath(FFN(LN₂(x)))``. The CPE carries the
    position signal the attention lacks; it has no norm and no drop path.

    Example:
        >>> block = TransformerBlock(64, BlockConfig("transformer", "attention", {"head_dim": 32}))
        >>> block(torch.randn(2, 5, 7, 64)).shape
        torch.Size([2, 5, 7, 64])
    """

    def __init__(self, dim: int, config: BlockConfig, drop_path: float = 0.0) -> None:
        super().__init__(dim, config, drop_path)
        self.cpe = L.ConvPosEnc(dim)

    @shapecheck
    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h w c"]:
        """Add the positional convolution, then attend and mix channels."""
        return super().forward(self.cpe(x))


class VSSDBlock(nn.Module):
    """VSSD's block: LPU, ``x + DropPath(mixer(LN₁(x)))``, LPU, ``x + DropPath(FFN(LN₂(x)))`` (VSSD, §3.1).

    The two local perception units (``cpe1``, ``cpe2``: residual depthwise 3×3 convs) give the non-causal SSD, which
    is blind to token order, its spatial signal. The last stage uses the same block with attention as the mixer.

    Example:
        >>> block = VSSDBlock(32, BlockConfig("vssd", "attention", {"heads": 2, "qkv_bias": False}))
        >>> block(torch.randn(2, 5, 7, 32)).shape
        torch.Size([2, 5, 7, 32])
    """

    def __init__(self, dim: int, config: BlockConfig, drop_path: float = 0.0) -> None:
        super().__init__()
        self.cpe1 = L.ConvPosEnc(dim)
        self.norm1 = nn.LayerNorm(dim, eps=config.norm_eps)
        self.attn = build_mixer(dim, config)
        self.cpe2 = L.ConvPosEnc(dim)
        self.norm2 = nn.LayerNorm(dim, eps=config.norm_eps)
        self.mlp = L.Mlp(dim, int(dim * config.mlp_ratio))
        self.drop_path = L.DropPath(drop_path)

    @shapecheck
    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h w c"]:
        """LPU, token mixing, LPU, channel mixing."""
        # On the flat token sequence, as VSSBlock.forward says why.
        h, w = x.shape[1:3]
        t = self.cpe1(x).flatten(1, 2)
        t = t + self.drop_path(self.attn(self.norm1(t).unflatten(1, (h, w))).flatten(1, 2))
        t = self.cpe2(t.unflatten(1, (h, w))).flatten(1, 2)
        return (t + self.drop_path(self.mlp(self.norm2(t)))).unflatten(1, (h, w))


class GatedCNNBlock(nn.Module):
    """MambaOut's Gated CNN block: one residual branch mixing tokens and channels (Yu & Wang, 2024).

    ``[g | i | c] = fc1(LN(x))`` with ``g`` of width ``hidden = int(ratio · C)``, ``i`` of ``hidden − C'`` and ``c`` of
    ``C' = conv_ratio · C``; ``c ← DWConv_k(c)``; ``x ← x + DropPath(fc2(GELU(g) ⊙ [i | c]))``. Only the last ``C'``
    channels of the value half see the depthwise conv; there is no separate FFN.

    Args:
        dim: channels ``C``.
        config: ``mlp_ratio`` is the expansion ratio (8/3); ``mixer_options`` may set ``kernel_size`` (7) and
            ``conv_ratio`` (1.0).
        drop_path: stochastic-depth rate.

    Example:
        >>> block = GatedCNNBlock(24, BlockConfig("gated_cnn", mlp_ratio=8 / 3))
        >>> block(torch.randn(2, 5, 7, 24)).shape
        torch.Size([2, 5, 7, 24])
    """

    conv_impl: str = "auto"
    """Form of the depthwise convolution, passed to :func:`vmix.ops.dwconv` (``"auto"``, ``"aten"``, ``"reference"``,
    ``"triton"``); set it on an instance to force one. Not a parameter: the state_dict does not change."""

    def __init__(self, dim: int, config: BlockConfig, drop_path: float = 0.0) -> None:
        super().__init__()
        options = dict(config.mixer_options)
        kernel_size = options.pop("kernel_size", 7)
        conv_ratio = options.pop("conv_ratio", 1.0)
        if options:
            raise TypeError(f"bad mixer_options for a gated_cnn block: unknown {sorted(options)}")
        hidden = int(config.mlp_ratio * dim)  # int(8/3 · C) with float rounding, as the official code computes it
        conv_channels = int(conv_ratio * dim)
        self.split_sizes = (hidden, hidden - conv_channels, conv_channels)
        self.norm = nn.LayerNorm(dim, eps=config.norm_eps)
        self.fc1 = nn.Linear(dim, 2 * hidden)
        self.conv = nn.Conv2d(conv_channels, conv_channels, kernel_size, padding=kernel_size // 2, groups=conv_channels)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop_path = L.DropPath(drop_path)

    @shapecheck
    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h w c"]:
        """Gate GELU(g) against the (partly convolved) value half, project back, add."""
        # On the flat token sequence but for the convolution, as VSSBlock.forward says why.
        h, w = x.shape[1:3]
        t = x.flatten(1, 2)
        # The convolved channels get a product of their own, so the convolution reads a dense map (a channel slice
        # of fc1's output would be copied to a dense tensor before cuDNN's kernel).
        u, weight, bias = self.norm(t), self.fc1.weight, self.fc1.bias
        n = self.split_sizes[0] + self.split_sizes[1]  # rows of g and i; c's are the rest
        g, i = torch.split(F.linear(u, weight[:n], bias[:n]), self.split_sizes[:2], dim=-1)
        c = F.linear(u, weight[n:], bias[n:])
        c = dwconv(c.unflatten(1, (h, w)), self.conv.weight, self.conv.bias, impl=self.conv_impl).flatten(1, 2)
        return (t + self.drop_path(self.fc2(F.gelu(g) * torch.cat((i, c), dim=-1)))).unflatten(1, (h, w))


_BLOCKS = {"vss": VSSBlock, "transformer": TransformerBlock, "vssd": VSSDBlock, "gated_cnn": GatedCNNBlock}


def build_block(dim: int, config: BlockConfig, drop_path: float = 0.0) -> nn.Module:
    """The block of kind ``config.kind`` at width ``dim``.

    Example:
        >>> build_block(32, BlockConfig("gated_cnn", mlp_ratio=8 / 3)).__class__.__name__
        'GatedCNNBlock'
    """
    return _BLOCKS[config.kind](dim, config, drop_path)
