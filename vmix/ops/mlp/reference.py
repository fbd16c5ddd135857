"""The channel MLP as its definition: two affine maps with the exact (erf) GELU between them."""

from __future__ import annotations

import math

from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["mlp_reference"]


@shapecheck
def mlp_reference(
    x: Float[Tensor, "*batch c"],
    fc1_weight: Float[Tensor, "hidden c"],
    fc1_bias: Float[Tensor, " hidden"] | None,
    fc2_weight: Float[Tensor, "c hidden"],
    fc2_bias: Float[Tensor, " c"] | None,
) -> Float[Tensor, "*batch c"]:
    """``y = W₂ · gelu(W₁ x + b₁) + b₂`` on the last axis, ``gelu(h) = h · (1 + erf(h / √2)) / 2``, in ``x``'s dtype.

    Example:
        >>> import torch
        >>> mlp_reference(torch.randn(3, 4), torch.randn(8, 4), None, torch.randn(4, 8), torch.zeros(4)).shape
        torch.Size([3, 4])
    """
    h = x @ fc1_weight.to(x.dtype).T
    if fc1_bias is not None:
        h = h + fc1_bias.to(x.dtype)
    g = h * (1 + (h / math.sqrt(2)).erf()) / 2
    y = g @ fc2_weight.to(x.dtype).T
    return y if fc2_bias is None else y + fc2_bias.to(x.dtype)
