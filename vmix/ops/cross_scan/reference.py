"""SS2D's cross-scan and cross-merge as VMamba writes them: transposes and flips.

The definition the fused form is tested against. Direction ``k`` of an ``h × w`` map visits token ``(i, j)`` at
position ``t``: ``k = 0`` row-major (``t = i·w + j``), ``k = 1`` column-major (``t = j·h + i``), ``k = 2`` and
``k = 3`` the same two read backwards (``t = L − 1 − …``). Merging sums the four sequences back onto the map; it is the
adjoint of the scan.
"""

from __future__ import annotations

import torch
from einops import rearrange
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["cross_scan_reference", "cross_merge_reference", "check_map", "check_sequences"]


def check_map(x: Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a channels-last map ``(batch, h, w, channels)``."""
    if x.ndim != 4:
        raise ValueError(f"expected a channels-last map (batch, h, w, channels); got shape {tuple(x.shape)}")


def check_sequences(y: Tensor, h: int, w: int) -> None:
    """Raise ``ValueError`` unless ``y`` holds four sequences of ``h·w`` tokens, ``(batch, 4, channels, h·w)``."""
    if y.ndim != 4 or y.shape[1] != 4 or y.shape[3] != h * w:
        raise ValueError(f"expected (batch, 4, channels, h*w) with h*w = {h}*{w} = {h * w}; got shape {tuple(y.shape)}")


@shapecheck
def cross_scan_reference(x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b 4 c l"]:
    """The four traversals of a channels-last map, each as a channel-major sequence.

    Args:
        x: feature map, ``(batch, h, w, channels)``.

    Returns:
        ``(batch, 4, channels, h·w)``: row-major, column-major, row-major reversed, column-major reversed.

    Example:
        >>> x = torch.arange(6.0).reshape(1, 2, 3, 1)
        >>> cross_scan_reference(x)[0, :, 0]
        tensor([[0., 1., 2., 3., 4., 5.],
                [0., 3., 1., 4., 2., 5.],
                [5., 4., 3., 2., 1., 0.],
                [5., 2., 4., 1., 3., 0.]])
    """
    check_map(x)
    rows = rearrange(x, "b h w c -> b c (h w)")
    cols = rearrange(x, "b h w c -> b c (w h)")
    return torch.stack([rows, cols, rows.flip(-1), cols.flip(-1)], dim=1)


@shapecheck
def cross_merge_reference(y: Float[Tensor, "b 4 c l"], h: int, w: int) -> Float[Tensor, "b h w c"]:
    """Sum the four traversal-ordered sequences back onto the ``h × w`` map (the adjoint of the cross-scan).

    Args:
        y: four sequences in the order of :func:`cross_scan_reference`, ``(batch, 4, channels, h·w)``.
        h: height of the map.
        w: width of the map.

    Returns:
        ``(batch, h, w, channels)``, token ``(i, j)`` the sum of the four entries that visited it.

    Example:
        >>> x = torch.randn(2, 3, 5, 4)
        >>> torch.allclose(cross_merge_reference(cross_scan_reference(x), 3, 5), 4 * x)
        True
    """
    check_sequences(y, h, w)
    rows = y[:, 0] + y[:, 2].flip(-1)
    cols = y[:, 1] + y[:, 3].flip(-1)
    # The column-major sequences are the transposed (w × h) map: view them as such before transposing back.
    return rearrange(rows, "b c (h w) -> b h w c", h=h, w=w) + rearrange(cols, "b c (w h) -> b h w c", h=h, w=w)
