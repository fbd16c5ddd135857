"""The causal SSD as the paper writes it: one token at a time, the state decaying by a scalar per head."""

from __future__ import annotations

import torch
from einops import repeat
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["ssd_reference"]


@shapecheck
def ssd_reference(
    x: Float[Tensor, "b l h p"],
    dt: Float[Tensor, "b l h"],
    A: Float[Tensor, " h"],
    B: Float[Tensor, "b l g n"],
    C: Float[Tensor, "b l g n"],
    D: Float[Tensor, " h"] | None = None,
) -> Float[Tensor, "b l h p"]:
    """Causal SSD by its recurrence: ``h_t = exp(dt_t A) h_{t-1} + dt_t B_t x_tᵀ``, ``y_t = h_tᵀ C_t + D x_t``.

    The definition the fast forms are tested against; slow on purpose (a Python loop over tokens). Arguments as
    :func:`vmix.ops.ssd`; computes in float32 (float64 for float64 inputs) and returns ``x``'s dtype.

    Example:
        >>> x, dt = torch.randn(1, 5, 2, 3), torch.rand(1, 5, 2)
        >>> ssd_reference(x, dt, -torch.ones(2), torch.randn(1, 5, 1, 4), torch.randn(1, 5, 1, 4)).shape
        torch.Size([1, 5, 2, 3])
    """
    dtype = torch.promote_types(x.dtype, torch.float32)
    batch, length, heads, head_dim = x.shape
    groups, d_state = B.shape[2:]
    # Head j reads group j // (heads // groups): Mamba2's contiguous assignment.
    B = repeat(B.to(dtype), "b l g n -> b l (g r) n", r=heads // groups)
    C = repeat(C.to(dtype), "b l g n -> b l (g r) n", r=heads // groups)
    xs, dt, A = x.to(dtype), dt.to(dtype), A.to(dtype)

    state = xs.new_zeros(batch, heads, d_state, head_dim)
    ys = []
    for t in range(length):
        decay = torch.exp(dt[:, t] * A)  # (b, h)
        state = decay[:, :, None, None] * state + torch.einsum("bh,bhn,bhp->bhnp", dt[:, t], B[:, t], xs[:, t])
        ys.append(torch.einsum("bhnp,bhn->bhp", state, C[:, t]))
    y = torch.stack(ys, dim=1)  # (b, l, h, p)
    if D is not None:
        y = y + D.to(dtype)[:, None] * xs
    return y.to(x.dtype)
