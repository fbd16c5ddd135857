"""Softmax attention as the definition: scores, a numerically stable softmax, a weighted sum of values."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

F = TypeVar("F", bound=Callable)


def check_qkv(fn: F) -> F:
    """Reject ``q, k, v`` that are not three floating tensors of one shape ``(batch, heads, length, head_dim)``.

    Runs before the shape checker so that a bad call gets a ``ValueError`` naming the expected layout whether runtime
    shape checking is on or off. Under ``torch.compile`` the comparisons only read static or symbolic sizes.

    Example:
        >>> @check_qkv
        ... def first(q, k, v):
        ...     return q
        >>> first(torch.ones(1, 2, 3, 4), torch.ones(1, 2, 5, 4), torch.ones(1, 2, 3, 4))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: q, k and v must share one shape (batch, heads, length, head_dim); got q (1, 2, 3, 4), ...
    """

    @functools.wraps(fn)
    def wrapper(q, k, v, **kwargs):
        if q.ndim != 4:
            raise ValueError(f"q must be (batch, heads, length, head_dim); got shape {tuple(q.shape)}")
        if k.shape != q.shape or v.shape != q.shape:
            raise ValueError(
                "q, k and v must share one shape (batch, heads, length, head_dim); "
                f"got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
            )
        if not (q.is_floating_point() and q.dtype == k.dtype == v.dtype):
            raise ValueError(f"q, k and v must share one floating dtype; got {q.dtype}, {k.dtype}, {v.dtype}")
        return fn(q, k, v, **kwargs)

    return wrapper  # type: ignore[return-value]


@check_qkv
@shapecheck
def attention_reference(
    q: Float[Tensor, "b h l d"],
    k: Float[Tensor, "b h l d"],
    v: Float[Tensor, "b h l d"],
    *,
    scale: float | None = None,
) -> Float[Tensor, "b h l d"]:
    """``softmax(q kᵀ · scale) v`` written out, in the inputs' dtype (float64 included). Slow on purpose.

    Args:
        q: queries ``(batch, heads, length, head_dim)``.
        k: keys, same shape.
        v: values, same shape.
        scale: factor on the scores; ``head_dim ** -0.5`` when ``None``.

    Returns:
        ``(batch, heads, length, head_dim)``: for each query, the values averaged with its softmax weights.

    Example:
        >>> q, k, v = torch.randn(3, 2, 1, 5, 8, dtype=torch.float64).unbind(0)
        >>> attention_reference(q, k, v).shape
        torch.Size([2, 1, 5, 8])
    """
    if scale is None:
        scale = q.shape[-1] ** -0.5
    scores = torch.einsum("bhid,bhjd->bhij", q, k) * scale
    # Subtract each query's largest score before exp: the weights are unchanged and exp cannot overflow.
    weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    weights = weights / weights.sum(dim=-1, keepdim=True)
    return torch.einsum("bhij,bhjd->bhid", weights, v)
