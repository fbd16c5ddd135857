"""Mamba2's causal state space duality (SSD) with a scalar decay per head.

``y_t = Σ_{s≤t} (C_t · B_s) exp(Σ_{k=s+1..t} dt_k A) dt_s x_s + D x_t``: a selective scan whose state decays by the
same scalar ``exp(dt_t A)`` in every state dimension, so it can be computed as a recurrence (``ssd_reference``), as a
masked attention-like product (``ssd_quadratic``) or chunk by chunk (``ssd_chunked``, the form models use). See
``README.md`` beside this file for the math and the numerics.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from vmix._opcount import counted
from vmix._shapecheck import shapecheck
from vmix.ops.ssd.chunked import ssd_chunked
from vmix.ops.ssd.quadratic import ssd_quadratic
from vmix.ops.ssd.reference import ssd_reference

__all__ = ["IMPLS", "ssd", "ssd_reference", "ssd_quadratic", "ssd_chunked", "check_ssd_inputs"]

_FORMS = {"auto": ssd_chunked, "chunked": ssd_chunked, "quadratic": ssd_quadratic, "reference": ssd_reference}
IMPLS = tuple(_FORMS)
"""The accepted values of ``impl``."""


def check_ssd_inputs(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, *, op: str) -> None:
    """Raise a ValueError naming the expected shape when the inputs of an SSD-type operator do not fit together.

    Shared by ``ssd`` and ``nc_ssd``, which take the same layout. Only static shapes are read, so the check costs
    nothing under ``torch.compile``.
    """
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(
            f"{op}: x must be a floating-point tensor of shape (batch, length, heads, head_dim); "
            f"got {x.dtype} of shape {tuple(x.shape)}"
        )
    batch, length, heads, _ = x.shape
    if tuple(dt.shape) != (batch, length, heads):
        raise ValueError(
            f"{op}: dt must have shape (batch, length, heads) = {(batch, length, heads)}; got {tuple(dt.shape)}"
        )
    if tuple(A.shape) != (heads,):
        raise ValueError(f"{op}: A must be 1-D of shape (heads,) = ({heads},); got {tuple(A.shape)}")
    if B.ndim != 4 or tuple(B.shape[:2]) != (batch, length):
        raise ValueError(
            f"{op}: B must have shape (batch, length, groups, d_state) with (batch, length) = {(batch, length)}; "
            f"got {tuple(B.shape)}"
        )
    if C.shape != B.shape:
        raise ValueError(f"{op}: C must have the shape of B, {tuple(B.shape)}; got {tuple(C.shape)}")
    if heads % B.shape[2]:
        raise ValueError(f"{op}: heads ({heads}) must be divisible by groups ({B.shape[2]}, B.shape[2])")
    if D is not None and tuple(D.shape) != (heads,):
        raise ValueError(f"{op}: D must be None or of shape (heads,) = ({heads},); got {tuple(D.shape)}")


@counted("ssd")
@shapecheck
def ssd(
    x: Float[Tensor, "b l h p"],
    dt: Float[Tensor, "b l h"],
    A: Float[Tensor, " h"],
    B: Float[Tensor, "b l g n"],
    C: Float[Tensor, "b l g n"],
    D: Float[Tensor, " h"] | None = None,
    *,
    chunk_size: int = 64,
    impl: str = "auto",
) -> Float[Tensor, "b l h p"]:
    """Mamba2's causal SSD: ``h_t = exp(dt_t A) h_{t-1} + dt_t B_t x_tᵀ``, ``y_t = h_tᵀ C_t + D x_t``.

    Accumulates in float32 (float64 for float64 inputs) with autocast turned off, and returns ``x``'s dtype.

    Args:
        x: inputs, ``(batch, length, heads, head_dim)``.
        dt: step sizes, already positive (softplus and bias applied), ``(batch, length, heads)``.
        A: the scalar decay rate of each head, negative, ``(heads,)``.
        B: input projections, ``(batch, length, groups, d_state)``; head ``j`` reads group ``j // (heads // groups)``.
        C: output projections, same shape as ``B``.
        D: per-head skip weight ``(heads,)``, or ``None`` for no skip.
        chunk_size: chunk length of the chunked form (any value ≥ 1; need not divide ``length``).
        impl: ``"auto"`` (chunked), ``"chunked"``, ``"quadratic"`` or ``"reference"``.

    Returns:
        ``y``, ``(batch, length, heads, head_dim)`` in ``x``'s dtype.

    Raises:
        ValueError: for inputs whose shapes do not fit together, a chunk size below 1, or an unknown ``impl``.

    Example:
        >>> b, l, h, p, g, n = 2, 10, 4, 8, 2, 16
        >>> y = ssd(torch.randn(b, l, h, p), torch.rand(b, l, h), -torch.rand(h), torch.randn(b, l, g, n),
        ...         torch.randn(b, l, g, n), torch.ones(h), chunk_size=4)
        >>> y.shape
        torch.Size([2, 10, 4, 8])
    """
    check_ssd_inputs(x, dt, A, B, C, D, op="ssd")
    if impl not in _FORMS:
        raise ValueError(f"ssd: unknown impl {impl!r}; expected one of {', '.join(map(repr, _FORMS))}")
    # Autocast would run the contractions in bf16; the state is accumulated in float32 whatever the caller's dtype.
    with torch.autocast(device_type=x.device.type, enabled=False):
        if impl in ("auto", "chunked"):
            return ssd_chunked(x, dt, A, B, C, D, chunk_size=chunk_size)
        return _FORMS[impl](x, dt, A, B, C, D)
