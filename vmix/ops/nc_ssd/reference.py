"""The non-causal SSD as VSSD derives it (Eq. 7-8): two unit-decay scans, the token's own term counted once."""

from __future__ import annotations

import torch
from einops import repeat
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["nc_ssd_reference"]


@shapecheck
def nc_ssd_reference(
    x: Float[Tensor, "b l h p"],
    dt: Float[Tensor, "b l h"],
    A: Float[Tensor, " h"],
    B: Float[Tensor, "b l g n"],
    C: Float[Tensor, "b l g n"],
    D: Float[Tensor, " h"] | None = None,
) -> Float[Tensor, "b l h p"]:
    """Non-causal SSD by the bidirectional recurrence of VSSD Eq. 7-8 with the bias term dropped.

    With ``m_t = dt_t · (−A)`` and ``Z_t = m_t B_t x_tᵀ``, a forward scan ``h^f_t = h^f_{t−1} + Z_t`` and a backward
    scan ``h^b_t = h^b_{t+1} + Z_t`` (state decay 1 in both) add up to ``h^f_t + h^b_t = S + Z_t`` (Eq. 8, ``S`` the
    sum over all tokens); dropping the "bias" ``Z_t`` leaves the shared state, so
    ``y_t = C_tᵀ (h^f_t + h^b_t − Z_t) + D x_t``. Slow on purpose (two Python loops over tokens). Arguments as
    :func:`vmix.ops.nc_ssd`; computes in float32 (float64 for float64 inputs) and returns ``x``'s dtype.

    Example:
        >>> x, dt = torch.randn(1, 5, 2, 3), torch.rand(1, 5, 2)
        >>> nc_ssd_reference(x, dt, -torch.ones(2), torch.randn(1, 5, 1, 4), torch.randn(1, 5, 1, 4)).shape
        torch.Size([1, 5, 2, 3])
    """
    dtype = torch.promote_types(x.dtype, torch.float32)
    batch, length, heads, head_dim = x.shape
    groups, d_state = B.shape[2:]
    # Head j reads group j % groups: the official non-causal code's interleaved assignment.
    B = repeat(B.to(dtype), "b l g n -> b l (r g) n", r=heads // groups)
    C = repeat(C.to(dtype), "b l g n -> b l (r g) n", r=heads // groups)
    xs = x.to(dtype)
    m = dt.to(dtype) * -A.to(dtype)  # (b, l, h)
    z = torch.einsum("blh,blhn,blhp->blhnp", m, B, xs)

    forward, backward = [], [None] * length
    state = xs.new_zeros(batch, heads, d_state, head_dim)
    for t in range(length):
        state = state + z[:, t]
        forward.append(state)
    state = xs.new_zeros(batch, heads, d_state, head_dim)
    for t in reversed(range(length)):
        state = state + z[:, t]
        backward[t] = state
    hidden = torch.stack(forward, dim=1) + torch.stack(backward, dim=1) - z  # (b, l, h, n, p)
    y = torch.einsum("blhnp,blhn->blhp", hidden, C)
    if D is not None:
        y = y + D.to(dtype)[:, None] * xs
    return y.to(x.dtype)
