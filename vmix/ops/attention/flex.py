"""Attention through FlexAttention, which Inductor turns into one generated Triton (GPU) or C++ (CPU) kernel."""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor
from torch.nn.attention.flex_attention import flex_attention

from vmix._shapecheck import shapecheck
from vmix.ops.attention.reference import check_qkv


@check_qkv
@shapecheck
def attention_flex(
    q: Float[Tensor, "b h l d"],
    k: Float[Tensor, "b h l d"],
    v: Float[Tensor, "b h l d"],
    *,
    scale: float | None = None,
) -> Float[Tensor, "b h l d"]:
    """``softmax(q kᵀ · scale) v`` by ``torch.nn.attention.flex_attention``, with no mask and no score modification.

    Fast only inside ``torch.compile``: there Inductor generates a fused kernel. Called eagerly, PyTorch runs an
    unfused fallback that materialises the full score matrix (and warns once); that path serves tests, not models.
    FlexAttention has no backward on CPU, so on CPU this form is forward-only. On CUDA, torch 2.11's compiled
    backward returned wrong gradients at 24 heads × 49 tokens (forward right); check the gradients at your shapes
    before training through this form (``impl="auto"`` trains through SDPA).

    Args:
        q: queries ``(batch, heads, length, head_dim)``.
        k: keys, same shape.
        v: values, same shape.
        scale: factor on the scores; ``head_dim ** -0.5`` when ``None``.

    Returns:
        ``(batch, heads, length, head_dim)``.

    Example:
        >>> import warnings
        >>> import torch
        >>> q, k, v = torch.randn(3, 1, 2, 16, 8).unbind(0)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # the eager fallback's "not compiled" notice
        ...     attention_flex(q, k, v).shape
        torch.Size([1, 2, 16, 8])
    """
    return flex_attention(q, k, v, scale=scale)
