"""The non-causal SSD as unmasked attention: ``Y = M X + D X`` with ``M_ts = (C_t · B_s) m_s``."""

from __future__ import annotations

import torch
from einops import rearrange
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["nc_ssd_quadratic"]


@shapecheck
def nc_ssd_quadratic(
    x: Float[Tensor, "b l h p"],
    dt: Float[Tensor, "b l h"],
    A: Float[Tensor, " h"],
    B: Float[Tensor, "b l g n"],
    C: Float[Tensor, "b l g n"],
    D: Float[Tensor, " h"] | None = None,
) -> Float[Tensor, "b l h p"]:
    """Non-causal SSD through the full ``length × length`` token-mixing matrix (no mask, no normaliser).

    O(length²): the attention-like dual of the linear form, and the way to read off how much token ``s`` feeds token
    ``t``. Arguments as :func:`vmix.ops.nc_ssd`; computes in float32 (float64 for float64 inputs) and returns
    ``x``'s dtype.

    Example:
        >>> x, dt = torch.randn(1, 5, 2, 3), torch.rand(1, 5, 2)
        >>> nc_ssd_quadratic(x, dt, -torch.ones(2), torch.randn(1, 5, 1, 4), torch.randn(1, 5, 1, 4)).shape
        torch.Size([1, 5, 2, 3])
    """
    dtype = torch.promote_types(x.dtype, torch.float32)
    groups = B.shape[2]
    # Head (r, g) = r·groups + g reads group g (the interleaved assignment of the official non-causal code).
    xs = rearrange(x.to(dtype), "b l (r g) p -> b l r g p", g=groups)
    m = rearrange(dt.to(dtype) * -A.to(dtype), "b l (r g) -> b l r g", g=groups)
    scores = torch.einsum("btgn,bsgn,bsrg->brgts", C.to(dtype), B.to(dtype), m)
    y = torch.einsum("brgts,bsrgp->btrgp", scores, xs)
    if D is not None:
        y = y + D.to(dtype).view(-1, groups, 1) * xs  # head (r, g); a view, not einops: D may be a Parameter
    # Skip and cast on the 5-D tensor, whose 4-D view is then free: a 4-D (b, l, h, p) intermediate is one that
    # Inductor's layout optimisation lays out with l innermost (see vmix.models.blocks.VSSBlock.forward).
    return rearrange(y.to(x.dtype), "b l r g p -> b l (r g) p")
