"""GConvNet's token mixer: a gated depthwise 7×7 convolution in the place of SS2D."""

from __future__ import annotations

import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from vmix._shapecheck import shapecheck
from vmix.layers.mlp import init_linear_
from vmix.ops.dwconv import dwconv

__all__ = ["GatedDWConv"]


class GatedDWConv(nn.Module):
    """SS2D with the selective scan removed: ``out_proj(LN(SiLU(DWConv(v))) ⊙ SiLU(z))``, ``[v | z] = in_proj(x)``.

    The GConvNet paper (§3.1) replaces VMamba's SS2D by a gated large-kernel depthwise convolution and keeps the gate
    that VMamba's ``_noz`` variant drops. The paper leaves the details open; this follows the choice that comes
    closest to its Table 1 (spec "block A"): expansion ``E = expand · C``, no biases, VMamba's conv → SiLU order, an
    ``out_norm`` LayerNorm(E) (eps 1e-5) before the gate product, SiLU on the gate. Keys mirror VMamba's SS2D
    (``in_proj``, ``conv2d``, ``out_norm``, ``out_proj``) so tooling is shared. At ``expand = 2`` the mixer holds
    ``6C² + 102C`` parameters (in_proj 4C², conv 98C, out_norm 4C, out_proj 2C²).

    Args:
        dim: channels ``C``.
        expand: ``E / C``; ``E = int(expand · C)``.
        kernel_size: odd side of the depthwise kernel; padding keeps ``H`` and ``W``.
        conv_bias: bias on the depthwise convolution (+E parameters).

    Example:
        >>> import torch
        >>> mixer = GatedDWConv(32)
        >>> mixer(torch.randn(2, 7, 5, 32)).shape
        torch.Size([2, 7, 5, 32])
    """

    conv_impl: str = "auto"
    """Form of the depthwise convolution, passed to :func:`vmix.ops.dwconv` (``"auto"``, ``"aten"``, ``"reference"``,
    ``"triton"``); set it on an instance to force one. Not a parameter: the state_dict does not change."""

    def __init__(self, dim: int, *, expand: float = 2.0, kernel_size: int = 7, conv_bias: bool = False) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so the map keeps its size; got {kernel_size}")
        hidden = int(expand * dim)
        if hidden < 1:
            raise ValueError(f"expand * dim must give at least one channel; got expand={expand}, dim={dim}")
        self.dim = dim
        self.hidden = hidden
        self.in_proj = nn.Linear(dim, 2 * hidden, bias=False)
        self.conv2d = nn.Conv2d(
            hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden, bias=conv_bias
        )  # PyTorch's default init, as VMamba leaves it
        self.out_norm = nn.LayerNorm(hidden, eps=1e-5)
        self.out_proj = nn.Linear(hidden, dim, bias=False)
        init_linear_(self.in_proj, self.out_proj)

    @shapecheck
    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h w c"]:
        """Mix tokens of a channels-last map ``x`` with ``C = dim``."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"GatedDWConv expects (B, H, W, C) with C = dim = {self.dim}; got {tuple(x.shape)}")
        # Everything but the convolution runs on the flat token sequence; see vmix.models.blocks.VSSBlock.forward.
        h, w = x.shape[1:3]
        # Value rows first, gate rows second; a product each, so the convolution reads a dense map (a channel slice
        # of one wide product would be copied to a dense tensor before cuDNN's kernel).
        t, weight = x.flatten(1, 2), self.in_proj.weight
        v, z = F.linear(t, weight[: self.hidden]), F.linear(t, weight[self.hidden :])  # [B, L, E] each
        v = dwconv(v.unflatten(1, (h, w)), self.conv2d.weight, self.conv2d.bias, activation="silu", impl=self.conv_impl)
        v = v.flatten(1, 2)
        return self.out_proj(self.out_norm(v) * F.silu(z)).unflatten(1, (h, w))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, hidden={self.hidden}"
