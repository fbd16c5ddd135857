"""The causal SSD chunk by chunk (Mamba2's SSD algorithm): quadratic inside chunks, a recurrence between them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops.ssd.quadratic import segsum

__all__ = ["ssd_chunked"]


@shapecheck
def ssd_chunked(
    x: Float[Tensor, "b l h p"],
    dt: Float[Tensor, "b l h"],
    A: Float[Tensor, " h"],
    B: Float[Tensor, "b l g n"],
    C: Float[Tensor, "b l g n"],
    D: Float[Tensor, " h"] | None = None,
    *,
    chunk_size: int = 64,
) -> Float[Tensor, "b l h p"]:
    """Causal SSD in chunks of ``chunk_size`` tokens: O(length · chunk_size) work, all of it batched matmuls.

    With ``X' = dt ⊙ X``, ``a = dt·A`` and ``cs`` the within-chunk cumulative sum of ``a``:
    1. diagonal blocks: the quadratic form inside each chunk;
    2. chunk states ``S_c = Σ_{s∈c} exp(cs_end − cs_s) B_s X'_sᵀ``;
    3. inter-chunk recurrence ``R_1 = 0``, ``R_{c+1} = exp(Σ_{k∈c} a_k) R_c + S_c``, solved in closed form with a
       segment sum over the (few) chunks so it is one contraction instead of a loop;
    4. off-diagonal output ``y_t += exp(cs_t) R_{c(t)}ᵀ C_t``.
    The length is padded with zero tokens (``dt = 0``: no input, no decay) to a multiple of the chunk size and the
    padded outputs are dropped; a length shorter than ``chunk_size`` is one chunk without padding.

    Args:
        x, dt, A, B, C, D: as :func:`vmix.ops.ssd`.
        chunk_size: tokens per chunk, any integer ≥ 1.

    Returns:
        ``y`` in ``x``'s dtype, computed in float32 (float64 for float64 inputs).

    Raises:
        ValueError: if ``chunk_size`` is not an integer ≥ 1.

    Example:
        >>> x, dt = torch.randn(1, 10, 2, 3), torch.rand(1, 10, 2)
        >>> ssd_chunked(x, dt, -torch.ones(2), torch.randn(1, 10, 1, 4), torch.randn(1, 10, 1, 4), chunk_size=4).shape
        torch.Size([1, 10, 2, 3])
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"ssd_chunked: chunk_size must be an integer >= 1; got {chunk_size!r}")
    dtype = torch.promote_types(x.dtype, torch.float32)
    length, heads, groups = x.shape[1], x.shape[2], B.shape[2]
    q = min(chunk_size, length)
    pad = -length % q

    def chunks(t: Tensor) -> Tensor:  # (b, l, ...) -> (b, c, t, ...), zero tokens appended
        t = F.pad(t.to(dtype), (0, 0) * (t.ndim - 2) + (0, pad))
        return rearrange(t, "b (c t) ... -> b c t ...", t=q)

    xs, dts = chunks(x), chunks(dt)
    Bc = repeat(chunks(B), "b c t g n -> b c t (g r) n", r=heads // groups)
    Cc = repeat(chunks(C), "b c t g n -> b c t (g r) n", r=heads // groups)
    a = rearrange(dts * A.to(dtype), "b c t h -> b h c t")
    cs = torch.cumsum(a, dim=-1)

    # 1. within-chunk outputs
    decay = torch.exp(segsum(a))  # (b, h, c, t, s)
    y_diag = torch.einsum("bcthn,bcshn,bhcts,bcsh,bcshp->bcthp", Cc, Bc, decay, dts, xs)

    # 2. each chunk's own contribution to the state at its end
    decay_to_end = torch.exp(cs[..., -1:] - cs)  # (b, h, c, t)
    states = torch.einsum("bcthn,bhct,bcth,bcthp->bchnp", Bc, decay_to_end, dts, xs)

    # 3. state entering each chunk: R_c = Σ_{c' < c} exp(a summed over chunks c'+1..c-1) S_{c'}
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)  # (b, c+1, h, n, p)
    chunk_decay = torch.exp(segsum(F.pad(cs[..., -1], (1, 0))))  # (b, h, c+1, c+1)
    entering = torch.einsum("bhzc,bchnp->bzhnp", chunk_decay, states)[:, :-1]  # (b, c, h, n, p)

    # 4. the entering state read out inside each chunk, decayed to each token
    y_off = torch.einsum("bcthn,bchnp,bhct->bcthp", Cc, entering, torch.exp(cs))

    y = rearrange(y_diag + y_off, "b c t h p -> b (c t) h p")[:, :length]
    if D is not None:
        y = y + D.to(dtype)[:, None] * x.to(dtype)
    return y.to(x.dtype)
