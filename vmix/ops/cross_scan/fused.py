"""Cross-scan and cross-merge as one gather each, with each other as their backward.

Every traversal is a permutation of the ``h·w`` tokens, so the scan is a single gather of the map by a ``(4, L)``
index and the merge a single gather by the inverse permutations followed by a sum over the four directions. Inductor
turns each into one kernel. The two are adjoint, so each one's backward is the other: no scatter-add (atomics on the
GPU) in the backward pass.
"""

from __future__ import annotations

import torch
from einops import rearrange
from jaxtyping import Float, Int
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops.cross_scan.reference import check_map, check_sequences

__all__ = ["cross_scan_fused", "cross_merge_fused"]


def _traversals(h: int, w: int, device: torch.device) -> Int[Tensor, "4 l"]:
    """``order[k, t]``: the row-major index of the token direction ``k`` visits at step ``t``."""
    rows = torch.arange(h * w, device=device)
    cols = rearrange(rows, "(h w) -> (w h)", h=h, w=w)
    forward = torch.stack([rows, cols])
    return torch.cat([forward, forward.flip(-1)])


def _visits(h: int, w: int, device: torch.device) -> Int[Tensor, "4 l"]:
    """``step[k, p]``: the step at which direction ``k`` visits row-major token ``p`` (the inverse permutations)."""
    steps = torch.arange(h * w, device=device)
    cols = rearrange(steps, "(w h) -> (h w)", h=h, w=w)
    forward = torch.stack([steps, cols])
    return torch.cat([forward, h * w - 1 - forward])


def _scan(x: Tensor) -> Tensor:
    b, h, w, c = x.shape
    tokens = rearrange(x, "b h w c -> b (h w) c")
    return rearrange(tokens[:, _traversals(h, w, x.device)], "b k l c -> b k c l")


def _merge(y: Tensor, h: int, w: int) -> Tensor:
    index = _visits(h, w, y.device)[None, :, None, :].expand(y.shape)
    return rearrange(y.gather(3, index).sum(dim=1), "b c (h w) -> b h w c", h=h, w=w)


class _CrossScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.hw = x.shape[1:3]
        return _scan(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return _merge(grad, *ctx.hw)


class _CrossMerge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y: Tensor, h: int, w: int) -> Tensor:
        return _merge(y, h, w)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        return _scan(grad), None, None


@shapecheck
def cross_scan_fused(x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b 4 c l"]:
    """The four SS2D traversals of a channels-last map by one gather (same meaning as ``cross_scan_reference``).

    Args:
        x: feature map, ``(batch, h, w, channels)``.

    Returns:
        ``(batch, 4, channels, h·w)``: row-major, column-major, row-major reversed, column-major reversed.

    Example:
        >>> from vmix.ops.cross_scan import cross_scan_reference
        >>> x = torch.randn(2, 3, 5, 4)
        >>> torch.equal(cross_scan_fused(x), cross_scan_reference(x))
        True
    """
    check_map(x)
    return _CrossScan.apply(x)


@shapecheck
def cross_merge_fused(y: Float[Tensor, "b 4 c l"], h: int, w: int) -> Float[Tensor, "b h w c"]:
    """Sum the four traversal-ordered sequences back onto the map by one gather and a sum.

    Args:
        y: four sequences in the order of :func:`cross_scan_fused`, ``(batch, 4, channels, h·w)``.
        h: height of the map.
        w: width of the map.

    Returns:
        ``(batch, h, w, channels)``.

    Example:
        >>> from vmix.ops.cross_scan import cross_merge_reference
        >>> y = torch.randn(2, 4, 4, 15)
        >>> torch.allclose(cross_merge_fused(y, 3, 5), cross_merge_reference(y, 3, 5), atol=1e-6)
        True
    """
    check_sequences(y, h, w)
    return _CrossMerge.apply(y, h, w)
