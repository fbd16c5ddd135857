"""The selective scan as a chunked parallel scan in plain torch, written for torch.compile to fuse.

The sequence is cut into chunks of ``T`` tokens. Inside a chunk every state is a masked sum over earlier tokens,
weighted by the decay between them, ``exp(A·(S_l − S_s))`` with ``S`` the running sum of Δ: the exponent is a sum
of non-positive terms, so nothing overflows however strong the decay (the ``exp(A·S_l)·Σ exp(−A·S_s)·…``
factorisation would overflow; see the README). The last state of each chunk is carried into the next through the
same kind of masked sum over chunks, computed exactly by a segment sum so long sequences keep fp32 precision.
All of it is differentiable by plain autograd and traces with ``fullgraph=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops.selective_scan.reference import accumulation_dtype, check_inputs

__all__ = ["selective_scan_chunked"]


def _segsum(x: Float[Tensor, "... c"]) -> Float[Tensor, "... c c"]:
    """``out[..., i, j] = x[j+1] + ... + x[i]`` for ``j <= i`` and ``-inf`` above the diagonal.

    Each entry sums only its own terms (a masked cumulative sum), instead of differencing a running total that can
    reach thousands over a long sequence and leave no fp32 digits for a short segment.
    """
    c = x.shape[-1]
    x = repeat(x, "... i -> ... i j", j=c)
    below = torch.ones(c, c, dtype=torch.bool, device=x.device).tril(-1)
    sums = x.masked_fill(~below, 0.0).cumsum(dim=-2)
    return sums.masked_fill(~below.logical_or(torch.eye(c, dtype=torch.bool, device=x.device)), float("-inf"))


def _default_chunk_size(length: int) -> int:
    """The power of two at or below √length, within [4, 64].

    Comparisons only: under torch.compile with dynamic shapes the length is a symbol, on which ``math.isqrt`` is a
    graph break while a comparison becomes a guard.
    """
    size = 4
    while size < 64 and (2 * size) ** 2 <= length:
        size *= 2
    return size


@shapecheck
def selective_scan_chunked(
    u: Float[Tensor, "b d l"],
    delta: Float[Tensor, "b d l"],
    A: Float[Tensor, "d n"],
    B: Float[Tensor, "b g n l"],
    C: Float[Tensor, "b g n l"],
    D: Float[Tensor, " d"] | None = None,
    delta_bias: Float[Tensor, " d"] | None = None,
    delta_softplus: bool = False,
    *,
    chunk_size: int | None = None,
    out_dtype: torch.dtype | None = None,
) -> Float[Tensor, "b d l"]:
    """Selective scan by chunks: parallel inside a chunk, state carried between chunks.

    Same meaning and signature as :func:`~vmix.ops.selective_scan.selective_scan_reference`. Work and memory grow as
    ``batch·dim·d_state·length·chunk_size``; a smaller ``chunk_size`` trades parallelism for memory.

    Args:
        u: input sequence, ``(batch, dim, length)``.
        delta: step sizes before bias and softplus, ``(batch, dim, length)``.
        A: state matrix (diagonal per channel), ``(dim, d_state)``.
        B: input projection per group and token, ``(batch, groups, d_state, length)``.
        C: output projection per group and token, ``(batch, groups, d_state, length)``.
        D: skip connection per channel, ``(dim,)``, or ``None``.
        delta_bias: added to ``delta`` per channel before the softplus, ``(dim,)``, or ``None``.
        delta_softplus: apply ``softplus`` (threshold 20) to ``delta + delta_bias``.
        chunk_size: tokens per chunk (any positive value; the length need not be a multiple). ``None`` chooses
            the power of two nearest below ``√length`` (4 to 64), which balances the in-chunk work
            (``∝ length·chunk``) against the between-chunk work (``∝ (length/chunk)²``): on CPU 2-10x faster than
            64 at VMamba's map sizes, eager and compiled (``bench/RESULTS.md``).
        out_dtype: dtype of the result; ``None`` gives ``u.dtype``.

    Returns:
        ``y``, ``(batch, dim, length)``, computed in float32 (float64 when an input is float64).

    Example:
        >>> u, delta = torch.randn(1, 4, 9), torch.rand(1, 4, 9)
        >>> A, B, C = -torch.rand(4, 2), torch.randn(1, 2, 2, 9), torch.randn(1, 2, 2, 9)
        >>> y = selective_scan_chunked(u, delta, A, B, C, chunk_size=4)
        >>> from vmix.ops.selective_scan import selective_scan_reference
        >>> torch.allclose(y, selective_scan_reference(u, delta, A, B, C), atol=1e-5)
        True
    """
    check_inputs(u, delta, A, B, C, D, delta_bias)
    if chunk_size is None:
        chunk_size = _default_chunk_size(u.shape[2])
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size}")
    acc = accumulation_dtype(u, delta, A, B, C, D, delta_bias)
    groups, length = B.shape[1], u.shape[2]
    x, dt = u.to(acc), delta.to(acc)
    if delta_bias is not None:
        dt = dt + delta_bias.to(acc)[:, None]
    if delta_softplus:
        dt = F.softplus(dt)

    # Pad the tail with Δ = 0: decay 1 and input 0, so padded tokens change nothing before them.
    t = min(chunk_size, length)
    pad = (-length) % t
    dt_x = F.pad(torch.stack([dt, dt * x]), (0, pad))
    dt_c, dtx_c = rearrange(dt_x, "two b (g e) (c t) -> two b g e c t", g=groups, t=t)
    B_c, C_c = rearrange(F.pad(torch.stack([B.to(acc), C.to(acc)]), (0, pad)), "two b g n (c t) -> two b g n c t", t=t)
    A = rearrange(A.to(acc), "(g e) n -> g e n", g=groups)

    # Running sum of Δ·A inside each chunk; (b, g, e, n, c, t), non-increasing along t.
    S = (dt_c[:, :, :, None] * A[None, :, :, :, None, None]).cumsum(dim=-1)
    causal = torch.ones(t, t, dtype=torch.bool, device=u.device).tril()
    # decay[..., l, s] = exp(S_l - S_s) for s <= l: a product of factors in (0, 1], never an overflow.
    decay = torch.exp((S[..., :, None] - S[..., None, :]).masked_fill(~causal, float("-inf")))
    inputs = B_c[:, :, None] * dtx_c[:, :, :, None]  # Δ_s B_s u_s, (b, g, e, n, c, t)
    # A broadcast product and sum rather than a matmul, so Inductor can fuse the exp into the reduction.
    h_local = (decay * inputs[..., None, :]).sum(dim=-1)  # states from the chunk's own tokens

    # State at the end of chunk c from all chunks up to c, then shifted by one: the state entering chunk c.
    chunk_decay = torch.exp(_segsum(S[..., -1]))  # (b, g, e, n, c, c)
    h_end = (chunk_decay * h_local[..., None, :, -1]).sum(dim=-1)
    h_in = F.pad(h_end[..., :-1], (1, 0))
    h = h_local + torch.exp(S) * h_in[..., None]

    y = (C_c[:, :, None] * h).sum(dim=3)  # (b, g, e, c, t)
    y = rearrange(y, "b g e c t -> b (g e) (c t)")[..., :length]
    if D is not None:
        y = y + D.to(acc)[:, None] * x
    return y.to(out_dtype or u.dtype)
