"""Multi-head softmax attention: ``softmax(q kᵀ · scale) v`` with no mask, in three forms that must agree.

- ``attention_reference``: the definition, einsum and a max-subtracted softmax; any dtype, float64 included.
- ``attention_sdpa``: ``F.scaled_dot_product_attention``; trains on every device.
- ``attention_flex``: FlexAttention; a fused generated kernel inside ``torch.compile``, forward-only on CPU.

``impl="auto"`` picks a form per call with :func:`choose_impl`; the rule and the measurements behind it are in this
package's README.
"""

from __future__ import annotations

from functools import partial

import torch
from jaxtyping import Float
from torch import Tensor

from vmix._opcount import counted
from vmix._shapecheck import shapecheck
from vmix.ops.attention.flex import attention_flex
from vmix.ops.attention.reference import attention_reference, check_qkv
from vmix.ops.attention.sdpa import attention_sdpa

__all__ = ["attention", "attention_reference", "attention_sdpa", "attention_flex", "choose_impl", "IMPLS"]

IMPLS = {
    "reference": attention_reference,
    "sdpa": attention_sdpa,
    "sdpa_efficient": partial(attention_sdpa, prefer="efficient"),
    "flex": attention_flex,
}

# Measured on an H100 (torch 2.11, bf16, no mask; table in README.md): inside a compiled graph FlexAttention has
# the fastest forward at some of the models' shapes, but its compiled backward returned wrong gradients (relative
# error ~7, for batch 2 and 128 alike) at 24 heads × 49 tokens, a hybrid's last stage, while it was right at 16 × 49
# and 24 × 64. Until that is understood, nothing that wants a gradient goes through it. Called eagerly it is
# either unfused or pays ~0.25 ms of host overhead per call, so eager code gets SDPA.
_FLEX_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
_FLEX_MIN_HEAD_DIM = 16  # Inductor's Triton template needs tl.dot operands of at least 16 columns
# Kernel time on the H100 (bench/RESULTS.md, run 31): at L = 49 SDPA's memory-efficient kernel beats the cuDNN one
# SDPA picks by itself (forward + backward 0.138 against 0.177 ms at 128 × 24 heads, 0.100 against 0.121 at 16),
# at L = 196 it loses (0.86 against 0.35 ms). Between the two lengths it is not measured: 64 is an 8 × 8 map.
_EFFICIENT_MAX_LEN = 64


def choose_impl(q: Tensor, *kv: Tensor) -> str:
    """The form ``impl="auto"`` runs for queries ``q`` (and keys and values ``kv``): ``"flex"``, ``"sdpa_efficient"``
    or ``"sdpa"``.

    FlexAttention for inference on CUDA inside ``torch.compile`` (for dtypes and head dims its generated kernel
    supports), SDPA everywhere else: on CPU FlexAttention has no backward, eagerly it is not fused, and its compiled
    backward in torch 2.11 gives wrong gradients at some shapes (see this package's README). On CUDA, sequences of
    at most 64 tokens go to SDPA's memory-efficient kernel first.

    Example:
        >>> choose_impl(torch.randn(1, 2, 49, 32))
        'sdpa'
    """
    if (
        q.device.type == "cuda"
        and torch.compiler.is_compiling()
        and q.dtype in _FLEX_DTYPES
        and q.shape[-1] >= _FLEX_MIN_HEAD_DIM
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in (q, *kv)))
    ):
        return "flex"
    if q.device.type == "cuda" and q.shape[-2] <= _EFFICIENT_MAX_LEN:
        return "sdpa_efficient"
    return "sdpa"


@counted("attention")
@check_qkv
@shapecheck
def attention(
    q: Float[Tensor, "b h l d"],
    k: Float[Tensor, "b h l d"],
    v: Float[Tensor, "b h l d"],
    *,
    scale: float | None = None,
    impl: str = "auto",
) -> Float[Tensor, "b h l d"]:
    """Global multi-head self-attention ``softmax(q kᵀ · scale) v``, no mask, no position bias.

    Args:
        q: queries ``(batch, heads, length, head_dim)``.
        k: keys, same shape.
        v: values, same shape.
        scale: factor on the scores; ``head_dim ** -0.5`` when ``None``.
        impl: ``"auto"`` (see :func:`choose_impl`), ``"sdpa"``, ``"sdpa_efficient"`` (SDPA, its memory-efficient
            kernel first), ``"flex"`` or ``"reference"``.

    Returns:
        ``(batch, heads, length, head_dim)``.

    Raises:
        ValueError: if ``q, k, v`` do not share one 4-d shape and floating dtype, or ``impl`` is unknown.

    Example:
        >>> q, k, v = torch.randn(3, 2, 4, 7 * 7, 32).unbind(0)
        >>> attention(q, k, v).shape
        torch.Size([2, 4, 49, 32])
    """
    if impl == "auto":
        impl = choose_impl(q, k, v)
    if impl not in IMPLS:
        raise ValueError(f"unknown attention impl {impl!r}; expected 'auto' or one of {sorted(IMPLS)}")
    return IMPLS[impl](q, k, v, scale=scale)
