"""SS2D's cross-scan (four traversals of an ``h × w`` map) and cross-merge (their sum back onto the map).

Direction ``k = 0`` reads the map row-major, ``k = 1`` column-major, ``k = 2`` and ``k = 3`` the same two backwards.
Forms: ``reference`` (flips and transposes, as VMamba writes it) and ``fused`` (one gather each, each the other's
backward); :func:`cross_scan` and :func:`cross_merge` pick one with ``impl=``.
"""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops.cross_scan.fused import cross_merge_fused, cross_scan_fused
from vmix.ops.cross_scan.reference import cross_merge_reference, cross_scan_reference

__all__ = [
    "IMPLS",
    "cross_merge",
    "cross_merge_fused",
    "cross_merge_reference",
    "cross_scan",
    "cross_scan_fused",
    "cross_scan_reference",
]

IMPLS = ("auto", "fused", "reference")
"""Values accepted by ``impl=``."""


def _check_impl(impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r}; expected one of {IMPLS}")


@shapecheck
def cross_scan(x: Float[Tensor, "b h w c"], *, impl: str = "auto") -> Float[Tensor, "b 4 c l"]:
    """The four SS2D traversals of a channels-last map, each as a channel-major sequence.

    Token ``(i, j)`` sits at step ``i·w + j`` of direction 0, ``j·h + i`` of direction 1, and at ``h·w − 1`` minus
    those of directions 2 and 3.

    Args:
        x: feature map, ``(batch, h, w, channels)``.
        impl: ``"auto"`` (the fused form), ``"fused"`` or ``"reference"``.

    Returns:
        ``(batch, 4, channels, h·w)``.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3, 5, 8)
        >>> cross_scan(x).shape
        torch.Size([2, 4, 8, 15])
    """
    _check_impl(impl)
    return cross_scan_reference(x) if impl == "reference" else cross_scan_fused(x)


@shapecheck
def cross_merge(y: Float[Tensor, "b 4 c l"], h: int, w: int, *, impl: str = "auto") -> Float[Tensor, "b h w c"]:
    """Sum four traversal-ordered sequences back onto the ``h × w`` map: the adjoint of :func:`cross_scan`.

    Args:
        y: four sequences in the order of :func:`cross_scan`, ``(batch, 4, channels, h·w)``.
        h: height of the map.
        w: width of the map.
        impl: ``"auto"`` (the fused form), ``"fused"`` or ``"reference"``.

    Returns:
        ``(batch, h, w, channels)``.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3, 5, 8)
        >>> torch.allclose(cross_merge(cross_scan(x), 3, 5), 4 * x)
        True
    """
    _check_impl(impl)
    return cross_merge_reference(y, h, w) if impl == "reference" else cross_merge_fused(y, h, w)
