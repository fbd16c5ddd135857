"""The depthwise convolution as its definition: a sum of shifted copies of the map, one per kernel tap."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["dwconv_reference"]


@shapecheck
def dwconv_reference(
    x: Float[Tensor, "b h w c"],
    weight: Float[Tensor, "c 1 k k"],
    bias: Float[Tensor, " c"] | None = None,
) -> Float[Tensor, "b h w c"]:
    """``y[b, i, j, c] = bias[c] + Σ_{s,t} weight[c, 0, s, t] · x[b, i + s − k//2, j + t − k//2, c]``, zero outside.

    One shifted slice of the zero-padded map per tap, summed in the inputs' promoted dtype (float64 for float64
    inputs: the form every other one is checked against). Slow and plain on purpose.

    Example:
        >>> x, w = torch.randn(1, 4, 5, 2), torch.zeros(2, 1, 3, 3)
        >>> w[:, 0, 1, 1] = 1.0  # the centre tap alone: the identity
        >>> torch.equal(dwconv_reference(x, w), x)
        True
    """
    k = weight.shape[-1]
    height, width = x.shape[1:3]
    dtype = torch.promote_types(x.dtype, weight.dtype)
    padded = F.pad(x.to(dtype), (0, 0, k // 2, k // 2, k // 2, k // 2))  # pads w, then h; c untouched
    y = torch.zeros(x.shape, dtype=dtype, device=x.device)
    for s in range(k):
        for t in range(k):
            y = y + weight[:, 0, s, t].to(dtype) * padded[:, s : s + height, t : t + width]
    if bias is not None:
        y = y + bias.to(dtype)
    return y.to(x.dtype)
