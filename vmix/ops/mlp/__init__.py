"""The channel MLP of every block: ``Linear → GELU (exact) → Linear`` on the last axis of a token tensor.

Forms: ``reference`` (matrix products and the erf formula: the definition, any dtype), ``aten`` (``F.linear``,
``F.gelu``, ``F.linear``: what ``torch.compile`` turns into two library GEMMs and a GELU kernel) and ``triton`` (Triton
kernels that keep the hidden activations on chip, GPU, widths up to ``MAX_CHANNELS``). ``"auto"`` takes ``triton``
on CUDA for 16-bit products (autocast's) where it can, for inference (no input wants a gradient); otherwise
``aten``. Measured on an H100 (``bench/RESULTS.md``, "The channel MLP"): the kernel's forward is 1.0-2.2× the
compiled unfused form at the tiny models' shapes and took ``vssd_tiny``'s inference from 1.15-1.16× to 1.20-1.22×
the official model's speed. Its backward is a kernel too (``h`` recomputed, never stored): forward + backward is
0.98-1.26× the unfused form, whole-model training within 2 % either way, and peak training memory 16-19 % lower,
so training stays on ``aten`` unless asked (``impl="triton"``, ``Mlp.mlp_impl = "triton"``) for that memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops._autocast import autocast_dtype
from vmix.ops.mlp.reference import mlp_reference

try:
    from vmix.ops.mlp.triton import MAX_CHANNELS, mlp_triton
except ImportError:  # no triton: the kernel form is not available
    MAX_CHANNELS, mlp_triton = 0, None

__all__ = ["IMPLS", "MAX_CHANNELS", "mlp", "mlp_aten", "mlp_reference", "mlp_triton"]

IMPLS = ("auto", "aten", "reference", "triton")
"""Values accepted by ``impl=``."""


@shapecheck
def mlp_aten(
    x: Float[Tensor, "*batch c"],
    fc1_weight: Float[Tensor, "hidden c"],
    fc1_bias: Float[Tensor, " hidden"] | None,
    fc2_weight: Float[Tensor, "c hidden"],
    fc2_bias: Float[Tensor, " c"] | None,
) -> Float[Tensor, "*batch c"]:
    """The MLP as ``F.linear``, ``F.gelu``, ``F.linear`` (outside autocast the parameters are cast to ``x``'s dtype).

    Example:
        >>> mlp_aten(torch.randn(3, 4), torch.randn(8, 4), None, torch.randn(4, 8), torch.zeros(4)).shape
        torch.Size([3, 4])
    """
    params = [fc1_weight, fc1_bias, fc2_weight, fc2_bias]
    if autocast_dtype(x) is None:
        params = [None if p is None else p.to(x.dtype) for p in params]
    w1, b1, w2, b2 = params
    return F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)


def _check(x: Tensor, w1: Tensor, b1: Tensor | None, w2: Tensor, b2: Tensor | None) -> None:
    c = x.shape[-1]
    hidden = w1.shape[0] if w1.dim() == 2 else None
    if w1.shape != (hidden, c) or w2.shape != (c, hidden):
        raise ValueError(
            f"mlp: expected fc1_weight (hidden, c) and fc2_weight (c, hidden) with c = {c} (x's last axis); got "
            f"{tuple(w1.shape)} and {tuple(w2.shape)} for x {tuple(x.shape)}"
        )
    for name, bias, size in (("fc1_bias", b1, hidden), ("fc2_bias", b2, c)):
        if bias is not None and bias.shape != (size,):
            raise ValueError(f"mlp: expected {name} ({size},); got {tuple(bias.shape)}")


def _kernel_applies(x: Tensor, *params: Tensor | None) -> bool:
    """Whether ``"auto"`` takes the kernel: CUDA, a width it takes, 16-bit products (autocast's, or 16-bit inputs;
    in float32 the kernel's products are plain FMAs, slower than cuBLAS), and no gradient wanted (with its backward
    kernel, models trained within 2 % of the unfused form's speed, so training keeps the library GEMMs)."""
    tensors = [x, *(p for p in params if p is not None)]
    return (
        mlp_triton is not None
        and x.is_cuda
        and x.shape[-1] <= MAX_CHANNELS
        and (autocast_dtype(x) or x.dtype) in (torch.float16, torch.bfloat16)
        and all(t.dtype != torch.float64 for t in tensors)
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
    )


@shapecheck
def mlp(
    x: Float[Tensor, "*batch c"],
    fc1_weight: Float[Tensor, "hidden c"],
    fc1_bias: Float[Tensor, " hidden"] | None,
    fc2_weight: Float[Tensor, "c hidden"],
    fc2_bias: Float[Tensor, " c"] | None,
    *,
    impl: str = "auto",
) -> Float[Tensor, "*batch c"]:
    """The channel MLP ``y = W₂ · gelu(W₁ x + b₁) + b₂`` on the last axis, with the exact (erf) GELU.

    Takes two ``nn.Linear``'s parameters, so ``vmix.layers.Mlp`` keeps its keys and calls this. Under autocast the
    result has autocast's dtype, as ``F.linear``'s would; otherwise ``x``'s dtype.

    Args:
        x: ``(..., c)``.
        fc1_weight: ``(hidden, c)``.
        fc1_bias: ``(hidden,)`` or ``None``.
        fc2_weight: ``(c, hidden)``.
        fc2_bias: ``(c,)`` or ``None``.
        impl: ``"auto"`` (see above), ``"aten"``, ``"reference"`` or ``"triton"``.

    Returns:
        ``(..., c)``.

    Raises:
        ValueError: for weights or biases of the wrong shape, or an unknown ``impl``; with ``impl="triton"``, for
            what the kernel does not take (float64, tensors off the GPU, ``c > MAX_CHANNELS``).
        ImportError: for ``impl="triton"`` without triton.

    Example:
        >>> fc1, fc2 = torch.nn.Linear(8, 32), torch.nn.Linear(32, 8)
        >>> mlp(torch.randn(2, 5, 8), fc1.weight, fc1.bias, fc2.weight, fc2.bias).shape
        torch.Size([2, 5, 8])
    """
    _check(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias)
    if impl not in IMPLS:
        raise ValueError(f"mlp: unknown impl {impl!r}; expected one of {IMPLS}")
    params = (fc1_weight, fc1_bias, fc2_weight, fc2_bias)
    if impl == "auto":
        impl = "triton" if _kernel_applies(x, *params) else "aten"
    if impl == "triton":
        if mlp_triton is None:
            raise ImportError("impl='triton' needs triton (pip install triton, on a machine with a GPU)")
        # Cast here, not in the kernel: under torch.compile the input's cast joins the kernel that writes it (the
        # norm before the MLP), and every program then reads 16-bit weights.
        dtype = autocast_dtype(x) or x.dtype
        return mlp_triton(x.to(dtype), *(None if p is None else p.to(dtype) for p in params), out_dtype=dtype)
    if impl == "reference":
        return mlp_reference(x, *params).to(autocast_dtype(x) or x.dtype)
    return mlp_aten(x, *params)
