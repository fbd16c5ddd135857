"""SS2D's core as VMamba composes it: cross-scan, Δ projection, selective scan, cross-merge, one operator each."""

from __future__ import annotations

import torch
from einops import rearrange
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops.cross_scan import cross_merge, cross_scan
from vmix.ops.selective_scan import selective_scan

__all__ = ["check_core_inputs", "ss2d_core_composed", "ss2d_core_reference"]

_DIRECTIONS = 4


def check_core_inputs(z: Tensor, x_dbl: Tensor, dt_weight: Tensor, dt_bias: Tensor, A: Tensor, D: Tensor) -> None:
    """Raise ``ValueError`` naming the expected shape when the core's inputs do not fit together."""
    if z.ndim != 4:
        raise ValueError(f"z must be a channels-last map (batch, h, w, channels); got shape {tuple(z.shape)}")
    b, h, w, e = z.shape
    if dt_weight.ndim != 3 or dt_weight.shape[:2] != (_DIRECTIONS, e):
        raise ValueError(f"dt_weight must be (4, {e}, dt_rank); got {tuple(dt_weight.shape)}")
    r = dt_weight.shape[2]
    if A.ndim != 2 or A.shape[0] != _DIRECTIONS * e:
        raise ValueError(f"A must be ({_DIRECTIONS * e}, d_state); got {tuple(A.shape)}")
    n = A.shape[1]
    expected = {
        "x_dbl": (x_dbl, (b, _DIRECTIONS, r + 2 * n, h * w)),
        "dt_bias": (dt_bias, (_DIRECTIONS, e)),
        "D": (D, (_DIRECTIONS * e,)),
    }
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} (dt_rank {r}, d_state {n}); got {tuple(tensor.shape)}")


def _core(z, x_dbl, dt_weight, dt_bias, A, D, scan_impl: str) -> Tensor:
    check_core_inputs(z, x_dbl, dt_weight, dt_bias, A, D)
    height, width = z.shape[1], z.shape[2]
    cross_impl = "reference" if scan_impl == "reference" else "auto"
    r, n = dt_weight.shape[2], A.shape[1]
    xs = cross_scan(z, impl=cross_impl)  # (b, k, e, l)
    dt_low, B, C = x_dbl.split([r, n, n], dim=2)
    # In x_dbl's dtype, as autocast runs it for SS2D: bf16 projections and a float32 weight mix without error.
    dt = torch.einsum("bkrl,ker->bkel", dt_low, dt_weight.to(dt_low.dtype))
    y = selective_scan(
        rearrange(xs, "b k e l -> b (k e) l"),
        rearrange(dt, "b k e l -> b (k e) l"),
        A,
        B,
        C,
        D,
        dt_bias.flatten(),  # not einops: a Parameter here would add a type to its backend cache and recompile
        delta_softplus=True,
        impl=scan_impl,
        out_dtype=torch.promote_types(xs.dtype, torch.float32),
    )
    return cross_merge(rearrange(y, "b (k e) l -> b k e l", k=_DIRECTIONS), height, width, impl=cross_impl)


@shapecheck
def ss2d_core_composed(
    z: Float[Tensor, "b h w e"],
    x_dbl: Float[Tensor, "b 4 j l"],
    dt_weight: Float[Tensor, "4 e r"],
    dt_bias: Float[Tensor, "4 e"],
    A: Float[Tensor, "ke n"],
    D: Float[Tensor, " ke"],
    *,
    scan_impl: str = "auto",
) -> Float[Tensor, "b h w e"]:
    """SS2D's core from separate operators: ``cross_scan``, the Δ projection, ``selective_scan``, ``cross_merge``.

    Same meaning as :func:`ss2d_core_reference`; the fast forms of each operator, trains on any device.

    Args:
        z: the map after SS2D's convolution and SiLU, ``(batch, h, w, E)``.
        x_dbl: per direction and token, ``dt_low`` (R rows), ``B`` (N rows) and ``C`` (N rows), each direction's
            sequence in its own traversal order, ``(batch, 4, R + 2N, h·w)``.
        dt_weight: rank-R map from ``dt_low`` to Δ per direction, ``(4, E, R)``.
        dt_bias: Δ bias per direction and channel, ``(4, E)``.
        A: state matrix per (direction, channel), ``(4·E, N)``, negative.
        D: skip per (direction, channel), ``(4·E,)``.
        scan_impl: the selective scan's form (``"auto"``, ``"chunked"``, ``"triton"``; ``"reference"`` also takes
            the reference cross-scan and cross-merge).

    Returns:
        The four directions' outputs summed on the map, ``(batch, h, w, E)``, in float32 (float64 for float64
        inputs).

    Example:
        >>> z, x_dbl = torch.randn(2, 3, 5, 8), torch.randn(2, 4, 2 + 2, 15)
        >>> dt_w, dt_b, A, D = torch.randn(4, 8, 2), torch.randn(4, 8), -torch.rand(32, 1), torch.ones(32)
        >>> ss2d_core_composed(z, x_dbl, dt_w, dt_b, A, D).shape
        torch.Size([2, 3, 5, 8])
    """
    return _core(z, x_dbl, dt_weight, dt_bias, A, D, scan_impl)


@shapecheck
def ss2d_core_reference(
    z: Float[Tensor, "b h w e"],
    x_dbl: Float[Tensor, "b 4 j l"],
    dt_weight: Float[Tensor, "4 e r"],
    dt_bias: Float[Tensor, "4 e"],
    A: Float[Tensor, "ke n"],
    D: Float[Tensor, " ke"],
) -> Float[Tensor, "b h w e"]:
    """SS2D's core, the definition: VMamba's selective scan along each of four traversals, summed on the map.

    For each direction ``k`` (row-major, column-major, both reversed) the map ``z`` is read in that order as a
    sequence ``u``; ``Δ = softplus(dt_weight[k] · dt_low + dt_bias[k])`` per channel and token;
    ``h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t``, ``y_t = ⟨C_t, h_t⟩ + D u_t``; the four ``y`` are put back on the map
    and summed. Built from the reference cross-scan, selective scan and cross-merge; any dtype, float64 included.

    Args:
        z: the map after SS2D's convolution and SiLU, ``(batch, h, w, E)``.
        x_dbl: per direction and token, ``dt_low`` (R rows), ``B`` (N rows) and ``C`` (N rows), each direction's
            sequence in its own traversal order, ``(batch, 4, R + 2N, h·w)``.
        dt_weight: rank-R map from ``dt_low`` to Δ per direction, ``(4, E, R)``.
        dt_bias: Δ bias per direction and channel, ``(4, E)``.
        A: state matrix per (direction, channel), ``(4·E, N)``, negative.
        D: skip per (direction, channel), ``(4·E,)``.

    Returns:
        ``(batch, h, w, E)``, float32 (float64 for float64 inputs).

    Example:
        >>> z, x_dbl = torch.randn(1, 2, 3, 4), torch.randn(1, 4, 1 + 2, 6)
        >>> dt_w, dt_b, A, D = torch.randn(4, 4, 1), torch.randn(4, 4), -torch.rand(16, 1), torch.ones(16)
        >>> ss2d_core_reference(z, x_dbl, dt_w, dt_b, A, D).shape
        torch.Size([1, 2, 3, 4])
    """
    return _core(z, x_dbl, dt_weight, dt_bias, A, D, "reference")
