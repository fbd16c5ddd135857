"""Selective scan (S6, Mamba's selective state-space recurrence) with mamba_ssm's signature and layout.

Forms, all with the same signature and meaning:

- ``selective_scan_reference``: the recurrence, one token at a time (the definition; slow).
- ``selective_scan_chunked``: chunked parallel scan in plain torch, fused by torch.compile; any device.
- ``selective_scan_triton``: a Triton GPU kernel (module ``vmix.ops.selective_scan.triton``, imported only when asked
  for, so the package works without triton).

:func:`selective_scan` picks one with ``impl=``; ``"auto"`` takes the Triton kernel for CUDA tensors when triton is
installed (float64 excepted) and the chunked form otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from jaxtyping import Float
from torch import Tensor

from vmix._opcount import counted
from vmix._shapecheck import shapecheck
from vmix.ops.selective_scan.chunked import selective_scan_chunked
from vmix.ops.selective_scan.reference import accumulation_dtype, check_inputs, selective_scan_reference

__all__ = ["IMPLS", "selective_scan", "selective_scan_chunked", "selective_scan_reference"]

IMPLS = ("auto", "chunked", "reference", "triton")
"""Values accepted by ``impl=``."""


try:
    from vmix.ops.selective_scan.triton import selective_scan_triton
except ImportError:  # no triton (CPU builds of torch): the chunked form serves every device
    selective_scan_triton = None


def _form(impl: str) -> Callable[..., Tensor]:
    if impl == "reference":
        return selective_scan_reference
    if impl == "chunked":
        return selective_scan_chunked
    if selective_scan_triton is None:
        raise ImportError("impl='triton' needs the triton package (CUDA builds of torch ship it); use impl='chunked'")
    return selective_scan_triton


@counted("selective_scan")
@shapecheck
def selective_scan(
    u: Float[Tensor, "b d l"],
    delta: Float[Tensor, "b d l"],
    A: Float[Tensor, "d n"],
    B: Float[Tensor, "b g n l"],
    C: Float[Tensor, "b g n l"],
    D: Float[Tensor, " d"] | None = None,
    delta_bias: Float[Tensor, " d"] | None = None,
    delta_softplus: bool = False,
    *,
    impl: str = "auto",
    chunk_size: int | None = None,
    out_dtype: torch.dtype | None = None,
) -> Float[Tensor, "b d l"]:
    """Selective scan: ``h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t``, ``y_t = ⟨C_t, h_t⟩ + D u_t``.

    Per batch element and channel, with ``h_{-1} = 0`` and ``Δ = softplus(delta + delta_bias)`` (threshold 20) when
    ``delta_softplus``. ``B`` and ``C`` are shared by groups of channels: channel ``j`` reads group
    ``j // (dim // groups)``. The state and all arithmetic are float32 (float64 when an input is float64) whatever
    the input dtype, as in mamba_ssm's kernel.

    Args:
        u: input sequence, ``(batch, dim, length)``.
        delta: step sizes before bias and softplus, ``(batch, dim, length)``.
        A: state matrix (diagonal per channel), ``(dim, d_state)``; negative for a decaying state.
        B: input projection per group and token, ``(batch, groups, d_state, length)``.
        C: output projection per group and token, ``(batch, groups, d_state, length)``.
        D: skip connection per channel, ``(dim,)``, or ``None``.
        delta_bias: added to ``delta`` per channel before the softplus, ``(dim,)``, or ``None``.
        delta_softplus: apply ``softplus`` to ``delta + delta_bias``.
        impl: ``"auto"`` (``"triton"`` for CUDA tensors of float32 or lower when triton is installed, else
            ``"chunked"``), ``"chunked"``, ``"reference"`` or ``"triton"``.
        chunk_size: tokens per chunk of the chunked form; ``None`` picks one for the length and mode (see
            :func:`~vmix.ops.selective_scan.selective_scan_chunked`).
        out_dtype: dtype of the result; ``None`` gives ``u.dtype``.

    Returns:
        ``y``, ``(batch, dim, length)``.

    Raises:
        ValueError: for shapes outside the layout above or an unknown ``impl``.
        ImportError: for ``impl="triton"`` without triton.

    Example:
        >>> u, delta = torch.randn(2, 8, 10), torch.randn(2, 8, 10)
        >>> A, B, C = -torch.rand(8, 1), torch.randn(2, 4, 1, 10), torch.randn(2, 4, 1, 10)
        >>> selective_scan(u, delta, A, B, C, D=torch.ones(8), delta_softplus=True).shape
        torch.Size([2, 8, 10])
    """
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r}; expected one of {IMPLS}")
    check_inputs(u, delta, A, B, C, D, delta_bias)
    if impl == "auto":
        # The kernel computes in float32; float64 inputs ask for float64 arithmetic, which only plain torch gives.
        f32 = accumulation_dtype(u, delta, A, B, C, D, delta_bias) == torch.float32
        impl = "triton" if u.is_cuda and f32 and selective_scan_triton is not None else "chunked"
    return _form(impl)(u, delta, A, B, C, D, delta_bias, delta_softplus, chunk_size=chunk_size, out_dtype=out_dtype)
