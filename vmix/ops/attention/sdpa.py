"""Attention through PyTorch's fused ``scaled_dot_product_attention`` (flash, memory-efficient, cuDNN or math)."""

from __future__ import annotations

import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

from vmix._shapecheck import shapecheck
from vmix.ops.attention.reference import check_qkv

BACKENDS = {
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "flash": SDPBackend.FLASH_ATTENTION,
    "math": SDPBackend.MATH,
}
"""Values of ``attention_sdpa(prefer=)``: SDPA's backends by name."""


@check_qkv
@shapecheck
def attention_sdpa(
    q: Float[Tensor, "b h l d"],
    k: Float[Tensor, "b h l d"],
    v: Float[Tensor, "b h l d"],
    *,
    scale: float | None = None,
    prefer: str | None = None,
) -> Float[Tensor, "b h l d"]:
    """``softmax(q kᵀ · scale) v`` by ``F.scaled_dot_product_attention``, which picks its own backend per device.

    Trains on every device and compiles with ``fullgraph=True``; on CPU it is the only fast form with a backward.
    ``prefer`` names a backend to try first; where it cannot run, SDPA falls back to the others in its own way.

    Args:
        q: queries ``(batch, heads, length, head_dim)``.
        k: keys, same shape.
        v: values, same shape.
        scale: factor on the scores; ``head_dim ** -0.5`` when ``None``.
        prefer: ``None`` (SDPA's own order) or a key of :data:`BACKENDS`.

    Returns:
        ``(batch, heads, length, head_dim)``.

    Example:
        >>> import torch
        >>> q, k, v = torch.randn(3, 2, 4, 49, 32).unbind(0)
        >>> attention_sdpa(q, k, v).shape
        torch.Size([2, 4, 49, 32])
    """
    if prefer is None:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    if prefer not in BACKENDS:
        raise ValueError(f"attention_sdpa: unknown backend {prefer!r}; expected one of {sorted(BACKENDS)}")
    first = BACKENDS[prefer]
    with sdpa_kernel([first, *(b for b in BACKENDS.values() if b != first)], set_priority=True):
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
