"""The non-causal SSD in linear time, VSSD Eq. 10: ``Y = C (Bᵀ (X · m)) + D X``."""

from __future__ import annotations

import torch
from einops import rearrange
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["nc_ssd_linear"]


@shapecheck
def nc_ssd_linear(
    x: Float[Tensor, "b l h p"],
    dt: Float[Tensor, "b l h"],
    A: Float[Tensor, " h"],
    B: Float[Tensor, "b l g n"],
    C: Float[Tensor, "b l g n"],
    D: Float[Tensor, " h"] | None = None,
) -> Float[Tensor, "b l h p"]:
    """Non-causal SSD through one global state per head: ``S = Σ_s m_s B_s x_sᵀ``, ``y_t = Sᵀ C_t + D x_t``.

    O(length · d_state · head_dim): two contractions over tokens, so every token sees every other one at the cost of
    linear attention. ``B`` and ``C`` stay per group (never copied per head). Arguments as :func:`vmix.ops.nc_ssd`;
    returns ``x``'s dtype.

    Precision: float32 and float64 inputs are computed in float32 (float64). When ``x``, ``B`` and ``C`` are all
    bfloat16 (or all float16), the weighting ``x · m`` is computed in float32 and rounded once to that dtype, both
    contractions take operands in that dtype (GEMMs that accumulate in float32; ``S`` and ``C S`` come out rounded
    to it) and the skip ``D x`` is added in float32 before the cast to ``x``'s dtype. The official VSSD runs the
    contractions in bf16 under autocast too; computing them in float32 would write and read float32 copies of the
    ``(batch, length, heads · head_dim)`` tensors, memory traffic that buys little, as the GEMMs accumulate in
    float32 either way.

    Example:
        >>> x, dt = torch.randn(1, 5, 2, 3), torch.rand(1, 5, 2)
        >>> nc_ssd_linear(x, dt, -torch.ones(2), torch.randn(1, 5, 1, 4), torch.randn(1, 5, 1, 4)).shape
        torch.Size([1, 5, 2, 3])
    """
    dtype = torch.promote_types(x.dtype, torch.float32)  # of m, of x · m before rounding, of the skip
    low_precision = x.dtype in (torch.bfloat16, torch.float16) and B.dtype == C.dtype == x.dtype
    operands = x.dtype if low_precision else dtype  # of the contractions' operands and of S
    groups = B.shape[2]
    # Head (r, g) = r·groups + g reads group g (the interleaved assignment of the official non-causal code).
    xs = rearrange(x, "b l (r g) p -> b l r g p", g=groups)
    m = rearrange(dt.to(dtype) * -A.to(dtype), "b l (r g) -> b l r g", g=groups)
    xm = (xs * m[..., None]).to(operands)  # computed in `dtype` (x promotes), rounded once
    state = torch.einsum("blgn,blrgp->brgnp", B.to(operands), xm)  # S = Bᵀ (X · m)
    y = torch.einsum("blgn,brgnp->blrgp", C.to(operands), state)
    if D is not None:
        # In `dtype` (xs promotes); head (r, g). A view, not einops: D may be a Parameter.
        y = y.to(dtype) + D.to(dtype).view(-1, groups, 1) * xs
    # Skip and cast on the 5-D tensor, whose 4-D view is then free: a 4-D (b, l, h, p) intermediate is one that
    # Inductor's layout optimisation lays out with l innermost (see vmix.models.blocks.VSSBlock.forward).
    return rearrange(y.to(x.dtype), "b l r g p -> b l (r g) p")
