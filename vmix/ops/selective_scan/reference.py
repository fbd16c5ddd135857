"""The selective scan (S6) as the Mamba paper writes it: one token at a time.

This is the definition the fast forms are tested against; it is slow on purpose and never called by models. It also
holds the input contract shared by every form (:func:`check_inputs`) and the accumulation dtype rule.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import repeat
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["selective_scan_reference", "check_inputs", "accumulation_dtype"]


def check_inputs(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, delta_bias: Tensor | None
) -> None:
    """Raise ``ValueError`` naming the expected shape when the inputs do not follow mamba_ssm's layout."""
    if u.ndim != 3:
        raise ValueError(f"u must be (batch, dim, length); got shape {tuple(u.shape)}")
    batch, dim, length = u.shape
    if tuple(delta.shape) != (batch, dim, length):
        raise ValueError(
            f"delta must have u's shape (batch, dim, length) = {(batch, dim, length)}; got {tuple(delta.shape)}"
        )
    if A.ndim != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be (dim, d_state) with dim = {dim}; got shape {tuple(A.shape)}")
    d_state = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t.ndim != 4 or t.shape[0] != batch or t.shape[2] != d_state or t.shape[3] != length:
            raise ValueError(
                f"{name} must be (batch, groups, d_state, length) = ({batch}, groups, {d_state}, {length}); "
                f"got shape {tuple(t.shape)}"
            )
    if B.shape[1] != C.shape[1]:
        raise ValueError(f"B and C must have the same number of groups; got {B.shape[1]} and {C.shape[1]}")
    groups = B.shape[1]
    if groups == 0 or dim % groups:
        raise ValueError(f"dim = {dim} must be a multiple of the number of groups of B and C; got groups = {groups}")
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        if t is not None and tuple(t.shape) != (dim,):
            raise ValueError(f"{name} must be (dim,) = ({dim},); got shape {tuple(t.shape)}")


def accumulation_dtype(*tensors: Tensor | None) -> torch.dtype:
    """float64 when any input is float64, else float32: the state never lives in a half-precision type."""
    return torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32


@shapecheck
def selective_scan_reference(
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
    """Selective scan by its recurrence, one token at a time.

    ``h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t`` (``h_{-1} = 0``), ``y_t = ⟨C_t, h_t⟩ + D u_t``, per batch element and
    channel, with ``Δ = softplus(delta + delta_bias)`` when ``delta_softplus``. Channel ``j`` reads group
    ``j // (dim // groups)`` of ``B`` and ``C``.

    Args:
        u: input sequence, ``(batch, dim, length)``.
        delta: step sizes before bias and softplus, ``(batch, dim, length)``.
        A: state matrix (diagonal per channel), ``(dim, d_state)``; negative for a decaying state.
        B: input projection per group and token, ``(batch, groups, d_state, length)``.
        C: output projection per group and token, ``(batch, groups, d_state, length)``.
        D: skip connection per channel, ``(dim,)``, or ``None``.
        delta_bias: added to ``delta`` per channel before the softplus, ``(dim,)``, or ``None``.
        delta_softplus: apply ``softplus`` (threshold 20) to ``delta + delta_bias``.
        chunk_size: unused here (the recurrence has no chunks); accepted so every form has one signature.
        out_dtype: dtype of the result; ``None`` gives ``u.dtype``.

    Returns:
        ``y``, ``(batch, dim, length)``, computed in float32 (float64 when an input is float64).

    Example:
        >>> u, delta = torch.randn(1, 4, 5), torch.rand(1, 4, 5)
        >>> A, B, C = -torch.rand(4, 2), torch.randn(1, 2, 2, 5), torch.randn(1, 2, 2, 5)
        >>> selective_scan_reference(u, delta, A, B, C).shape
        torch.Size([1, 4, 5])
    """
    check_inputs(u, delta, A, B, C, D, delta_bias)
    acc = accumulation_dtype(u, delta, A, B, C, D, delta_bias)
    dim, length = u.shape[1], u.shape[2]
    per_group = dim // B.shape[1]
    x, dt, A = u.to(acc), delta.to(acc), A.to(acc)
    if delta_bias is not None:
        dt = dt + delta_bias.to(acc)[:, None]
    if delta_softplus:
        dt = F.softplus(dt)  # threshold 20: dt itself above it, as in the CUDA kernel
    B = repeat(B.to(acc), "b g n l -> b (g e) n l", e=per_group)
    C = repeat(C.to(acc), "b g n l -> b (g e) n l", e=per_group)

    h = x.new_zeros(x.shape[0], dim, A.shape[1])  # (b, d, n)
    ys = []
    for t in range(length):
        dt_t = dt[:, :, t, None]  # (b, d, 1)
        h = torch.exp(dt_t * A) * h + dt_t * B[..., t] * x[:, :, t, None]
        ys.append((C[..., t] * h).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + D.to(acc)[:, None] * x
    return y.to(out_dtype or u.dtype)
