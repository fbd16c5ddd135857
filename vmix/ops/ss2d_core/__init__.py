"""SS2D's core: selective scans of a map along four traversals, summed back onto the map.

Forms: ``reference`` (the reference cross-scan, selective scan and cross-merge: the definition, any dtype),
``composed`` (the fast form of each of those operators, trains anywhere: what :class:`~vmix.layers.SS2D` runs) and
``fused`` (Triton kernels, GPU; its backward takes d_state 1). :func:`ss2d_core` picks one with ``impl=``;
``"auto"`` takes ``fused`` where it applies (a GPU, float32 or 16-bit inputs, deterministic algorithms off, and
d_state 1 when a gradient is wanted: faster than ``composed`` and a third less training memory in VMamba-T,
``bench/RESULTS.md``) and ``composed`` everywhere else.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops.ss2d_core.composed import ss2d_core_composed, ss2d_core_reference

try:
    from vmix.ops.ss2d_core.triton import ss2d_core_fused
except ImportError:  # no triton: the fused form is not available
    ss2d_core_fused = None

__all__ = ["IMPLS", "ss2d_core", "ss2d_core_composed", "ss2d_core_fused", "ss2d_core_reference"]

IMPLS = ("auto", "composed", "fused", "reference")
"""Values accepted by ``impl=``."""


@shapecheck
def ss2d_core(
    z: Float[Tensor, "b h w e"],
    x_dbl: Float[Tensor, "b 4 j l"],
    dt_weight: Float[Tensor, "4 e r"],
    dt_bias: Float[Tensor, "4 e"],
    A: Float[Tensor, "ke n"],
    D: Float[Tensor, " ke"],
    *,
    impl: str = "auto",
    scan_impl: str = "auto",
) -> Float[Tensor, "b h w e"]:
    """SS2D's core: per direction, ``Δ = softplus(dt_weight · dt_low + dt_bias)`` and a selective scan of the map
    read in that direction's order; the four outputs summed on the map.

    Args:
        z: the map after SS2D's convolution and SiLU, ``(batch, h, w, E)``.
        x_dbl: per direction and token, ``dt_low`` (R rows), ``B`` (N rows) and ``C`` (N rows), each direction's
            sequence in its own traversal order (row-major, column-major, both reversed), ``(batch, 4, R + 2N, h·w)``.
        dt_weight: rank-R map from ``dt_low`` to Δ per direction, ``(4, E, R)``.
        dt_bias: Δ bias per direction and channel, ``(4, E)``.
        A: state matrix per (direction, channel), ``(4·E, N)``, negative.
        D: skip per (direction, channel), ``(4·E,)``.
        impl: ``"auto"``, ``"composed"``, ``"fused"`` or ``"reference"``. ``"auto"`` is ``"fused"`` on a GPU (no
            float64, triton installed, ``scan_impl="auto"``, ``torch.use_deterministic_algorithms`` off: the fused
            form sums the directions with atomic adds; and d_state 1 if an input needs a gradient), and
            ``"composed"`` otherwise.
        scan_impl: the selective scan's form inside the composed form (see
            :func:`~vmix.ops.selective_scan.selective_scan`).

    Returns:
        ``(batch, h, w, E)``, float32 (float64 for float64 inputs).

    Raises:
        ValueError: for mismatched shapes or an unknown ``impl``.
        ImportError: for ``impl="fused"`` without triton.

    Example:
        >>> import torch
        >>> z, x_dbl = torch.randn(2, 3, 5, 8), torch.randn(2, 4, 1 + 2, 15)
        >>> dt_w, dt_b, A, D = torch.randn(4, 8, 1), torch.randn(4, 8), -torch.rand(32, 1), torch.ones(32)
        >>> ss2d_core(z, x_dbl, dt_w, dt_b, A, D).shape
        torch.Size([2, 3, 5, 8])
    """
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r}; expected one of {IMPLS}")
    inputs = (z, x_dbl, dt_weight, dt_bias, A, D)
    if impl == "reference":
        return ss2d_core_reference(*inputs)
    if impl == "fused":
        if ss2d_core_fused is None:
            raise ImportError("impl='fused' needs triton (pip install triton, on a machine with a GPU)")
        return ss2d_core_fused(*inputs)
    if impl == "auto" and scan_impl == "auto" and _fused_applies(inputs):
        return ss2d_core_fused(*inputs)
    return ss2d_core_composed(*inputs, scan_impl=scan_impl)


def _fused_applies(inputs: tuple[Tensor, ...]) -> bool:
    return (
        ss2d_core_fused is not None
        and inputs[0].is_cuda
        and (inputs[4].shape[1] == 1 or not (torch.is_grad_enabled() and any(t.requires_grad for t in inputs)))
        and all(t.dtype != torch.float64 for t in inputs)
        and not torch.are_deterministic_algorithms_enabled()
    )
