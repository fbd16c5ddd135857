"""Conditional positional encoding: a residual depthwise convolution on a channels-last map."""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor, nn

from vmix._shapecheck import shapecheck
from vmix.ops.dwconv import dwconv

__all__ = ["ConvPosEnc"]


class ConvPosEnc(nn.Conv2d):
    """``x + DWConv_k×k(x)``: depthwise convolution with bias, zero padding, as a residual on a ``(B, H, W, C)`` map.

    The position signal of the hybrid Transformer block (GConvNet paper, Eq. 2, CPE) and VSSD's local perception unit
    (``cpe1``/``cpe2``). It sits in front of the norm as its own block step, so attention itself stays free of
    position terms. It *is* an ``nn.Conv2d`` so its state_dict keys are ``weight (C, 1, k, k)`` and ``bias (C)``,
    exactly VSSD's ``cpe1.weight``/``cpe1.bias``; its parameters keep PyTorch's default Conv2d initialisation.

    Args:
        dim: channels ``C``.
        kernel_size: odd side of the square kernel (3 in both papers); padding keeps ``H`` and ``W``.

    Example:
        >>> import torch
        >>> cpe = ConvPosEnc(32)
        >>> cpe(torch.randn(2, 7, 5, 32)).shape
        torch.Size([2, 7, 5, 32])
    """

    conv_impl: str = "auto"
    """Form of the depthwise convolution, passed to :func:`vmix.ops.dwconv` (``"auto"``, ``"aten"``, ``"reference"``,
    ``"triton"``); set it on an instance to force one. Not a parameter: the state_dict does not change."""

    def __init__(self, dim: int, kernel_size: int = 3) -> None:
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so the map keeps its size; got {kernel_size}")
        super().__init__(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim, bias=True)
        self.dim = dim

    @shapecheck
    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h w c"]:
        """Return ``x + dwconv(x)`` for a channels-last map ``x`` with ``C = dim``."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"ConvPosEnc expects (B, H, W, C) with C = dim = {self.dim}; got {tuple(x.shape)}")
        # The sum is formed on the flat token sequence, and both uses of x go through it so that their gradients
        # meet there too: a 4-D (b, h, w, c) intermediate is laid out h-innermost (VSSBlock.forward says why).
        h, w = x.shape[1:3]
        t = x.flatten(1, 2)
        return (
            t + dwconv(t.unflatten(1, (h, w)), self.weight, self.bias, impl=self.conv_impl).flatten(1, 2)
        ).unflatten(1, (h, w))
