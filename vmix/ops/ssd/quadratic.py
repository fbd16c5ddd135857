"""The causal SSD as masked attention: ``Y = (Λ ⊙ C Bᵀ)(dt ⊙ X) + D X``, quadratic in the length."""

from __future__ import annotations

import torch
from einops import rearrange, repeat
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["ssd_quadratic", "segsum"]


def segsum(a: Float[Tensor, "... t"]) -> Float[Tensor, "... t t"]:
    """Masked segment sums: ``out[..., i, j] = Σ_{k=j+1..i} a_k`` for ``j ≤ i`` and ``-inf`` above the diagonal.

    Summing the masked increments directly, rather than differencing one cumulative sum (``cs_i - cs_j``), avoids
    the cancellation of two large numbers when the decays are strong; ``exp`` of the result is the decay matrix,
    exactly 0 above the diagonal, and its gradient there is 0 rather than NaN.

    Example:
        >>> segsum(torch.tensor([1.0, 2.0, 3.0]))
        tensor([[0., -inf, -inf],
                [2., 0., -inf],
                [5., 3., 0.]])
    """
    t = a.shape[-1]
    ones = torch.ones(t, t, dtype=torch.bool, device=a.device)
    increments = repeat(a, "... i -> ... i j", j=t).masked_fill(~torch.tril(ones, diagonal=-1), 0.0)
    return torch.cumsum(increments, dim=-2).masked_fill(~torch.tril(ones), float("-inf"))


@shapecheck
def ssd_quadratic(
    x: Float[Tensor, "b l h p"],
    dt: Float[Tensor, "b l h"],
    A: Float[Tensor, " h"],
    B: Float[Tensor, "b l g n"],
    C: Float[Tensor, "b l g n"],
    D: Float[Tensor, " h"] | None = None,
) -> Float[Tensor, "b l h p"]:
    """Causal SSD in its attention-like form, ``Λ_ts = exp(Σ_{k=s+1..t} dt_k A)`` for ``s ≤ t`` and 0 above.

    O(length²) time and memory: for short sequences, and as a second witness for the chunked form. Arguments as
    :func:`vmix.ops.ssd`; computes in float32 (float64 for float64 inputs) and returns ``x``'s dtype.

    Example:
        >>> x, dt = torch.randn(1, 5, 2, 3), torch.rand(1, 5, 2)
        >>> ssd_quadratic(x, dt, -torch.ones(2), torch.randn(1, 5, 1, 4), torch.randn(1, 5, 1, 4)).shape
        torch.Size([1, 5, 2, 3])
    """
    dtype = torch.promote_types(x.dtype, torch.float32)
    heads, groups = x.shape[2], B.shape[2]
    B = repeat(B.to(dtype), "b l g n -> b l (g r) n", r=heads // groups)
    C = repeat(C.to(dtype), "b l g n -> b l (g r) n", r=heads // groups)
    xs, dt = x.to(dtype), dt.to(dtype)
    decay = torch.exp(segsum(rearrange(dt * A.to(dtype), "b l h -> b h l")))  # (b, h, t, s)
    y = torch.einsum("bthn,bshn,bhts,bsh,bshp->bthp", C, B, decay, dt, xs)
    if D is not None:
        y = y + D.to(dtype)[:, None] * xs
    return y.to(x.dtype)
