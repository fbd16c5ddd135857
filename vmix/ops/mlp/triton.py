"""The channel MLP as Triton kernels: the forward's hidden activations never leave the chip.

Between its two matrix products a block's MLP has a hidden tensor four times as wide as its input. Run as two GEMMs
and a GELU, that tensor is written by the first product, read and written again by the GELU, and read by the second
product: at VSSD-Tiny's first stage, 0.8 GB a block against 0.1 GB for the input and output, while the products
themselves are short (the width is 64 to 256). Here each program owns ``BLOCK_M`` rows: it loads its rows of ``x``
once, and for each slice of ``BLOCK_H`` hidden channels computes ``h = x W₁ᵀ + b₁`` on the tensor cores, applies
the exact GELU to the float32 ``h``, and adds ``gelu(h) W₂ᵀ`` into a float32 accumulator; only ``y`` is written.

The accumulator holds ``BLOCK_M × C`` float32 numbers, so the kernel takes widths up to ``MAX_CHANNELS``. The
backward keeps no hidden tensor from the forward either: a second kernel recomputes ``h`` on chip from ``x`` and
writes only ``dh = (dy W₂) · gelu'(h)`` and ``gelu(h)``, the two hidden-wide tensors the weight and input gradients
(cuBLAS products) read; unfused, the backward also writes and reads ``h`` and ``dy W₂``. Registered as a
``torch.library`` op with a fake implementation and autograd, so ``torch.compile(fullgraph=True)`` traces through
it. Importing this module without triton raises ``ImportError``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["MAX_CHANNELS", "mlp_triton"]

MAX_CHANNELS = 256
"""The widest ``C`` the kernel takes (its float32 accumulator is ``BLOCK_M × C``)."""


def _launch_config(c: int, itemsize: int, *, backward: bool = False) -> triton.Config:
    """The launch shape for width ``c`` and operands of ``itemsize`` bytes (the widest of them), by rule, not timed
    at run time. Forward: of seventeen shapes timed at the models' MLPs on an H100 (``bench/bench_mlp.py --sweep``,
    bench/RESULTS.md), 64 rows by 32 hidden channels with 4 warps was the fastest at every width below 256, and 64
    by 64 with 3 stages at 256; more rows or warps lost everywhere. The wider shape fits an H100 block's shared
    memory only with 16-bit operands, and never in the backward, whose programs also hold ``dy``: those take the
    narrow one (the backward's shapes are not swept)."""
    if c >= 256 and itemsize <= 2 and not backward:
        return triton.Config({"BLOCK_M": 64, "BLOCK_H": 64}, num_warps=4, num_stages=3)
    return triton.Config({"BLOCK_M": 64, "BLOCK_H": 32}, num_warps=4, num_stages=2)


@triton.jit
def _mlp_kernel(
    x_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, y_ptr, rows, hidden,
    C: tl.constexpr, C_PAD: tl.constexpr, HAS_B1: tl.constexpr, HAS_B2: tl.constexpr, F32_DOT: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_H: tl.constexpr,
):  # fmt: skip
    """``y = gelu(x W₁ᵀ + b₁) W₂ᵀ + b₂`` for ``BLOCK_M`` rows, the hidden axis walked in slices of ``BLOCK_H``.

    Operands are cast to ``y``'s dtype on load (any input dtype, float32 weights under autocast included); the
    products accumulate in float32, and with ``F32_DOT`` run in full float32 (no TF32)."""
    m = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    c = tl.arange(0, C_PAD)
    mask_m = m < rows
    mask_c = c < C
    dtype = tl.float32 if F32_DOT else y_ptr.dtype.element_ty
    x = tl.load(x_ptr + m[:, None] * C + c[None, :], mask=mask_m[:, None] & mask_c[None, :], other=0.0).to(dtype)
    acc = tl.zeros((BLOCK_M, C_PAD), tl.float32)
    for start in tl.range(0, hidden, BLOCK_H):
        j = start + tl.arange(0, BLOCK_H)
        mask_j = j < hidden
        w1 = tl.load(w1_ptr + j[None, :] * C + c[:, None], mask=mask_c[:, None] & mask_j[None, :], other=0.0)
        h = tl.dot(x, w1.to(dtype), input_precision="ieee") if F32_DOT else tl.dot(x, w1.to(dtype))
        if HAS_B1:
            h += tl.load(b1_ptr + j, mask=mask_j, other=0.0).to(tl.float32)[None, :]
        g = (0.5 * h * (1.0 + tl.math.erf(h * 0.7071067811865476))).to(dtype)
        w2 = tl.load(w2_ptr + c[None, :] * hidden + j[:, None], mask=mask_j[:, None] & mask_c[None, :], other=0.0)
        acc = tl.dot(g, w2.to(dtype), acc, input_precision="ieee") if F32_DOT else tl.dot(g, w2.to(dtype), acc)
    if HAS_B2:
        acc += tl.load(b2_ptr + c, mask=mask_c, other=0.0).to(tl.float32)[None, :]
    tl.store(
        y_ptr + m[:, None] * C + c[None, :], acc.to(y_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_c[None, :]
    )


@triton.jit
def _mlp_bwd_kernel(
    x_ptr, w1_ptr, b1_ptr, w2_ptr, dy_ptr, dh_ptr, g_ptr, rows, hidden,
    C: tl.constexpr, C_PAD: tl.constexpr, HAS_B1: tl.constexpr, F32_DOT: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_H: tl.constexpr,
):  # fmt: skip
    """For ``BLOCK_M`` rows, slice by slice of the hidden axis: ``h = x W₁ᵀ + b₁`` again, ``dh = (dy W₂) · gelu'(h)``
    and ``g = gelu(h)``, both stored (in ``dh``'s dtype): what the three weight and input products of the backward
    read. Neither ``h`` nor ``dy W₂`` is written."""
    m = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    c = tl.arange(0, C_PAD)
    mask_m = m < rows
    mask_c = c < C
    dtype = tl.float32 if F32_DOT else dh_ptr.dtype.element_ty
    tile = m[:, None] * C + c[None, :]
    mask = mask_m[:, None] & mask_c[None, :]
    x = tl.load(x_ptr + tile, mask=mask, other=0.0).to(dtype)
    dy = tl.load(dy_ptr + tile, mask=mask, other=0.0).to(dtype)
    for start in tl.range(0, hidden, BLOCK_H):
        j = start + tl.arange(0, BLOCK_H)
        mask_j = j < hidden
        w1 = tl.load(w1_ptr + j[None, :] * C + c[:, None], mask=mask_c[:, None] & mask_j[None, :], other=0.0)
        w2 = tl.load(w2_ptr + c[:, None] * hidden + j[None, :], mask=mask_c[:, None] & mask_j[None, :], other=0.0)
        if F32_DOT:
            h = tl.dot(x, w1.to(dtype), input_precision="ieee")
            dg = tl.dot(dy, w2.to(dtype), input_precision="ieee")
        else:
            h = tl.dot(x, w1.to(dtype))
            dg = tl.dot(dy, w2.to(dtype))
        if HAS_B1:
            h += tl.load(b1_ptr + j, mask=mask_j, other=0.0).to(tl.float32)[None, :]
        cdf = 0.5 * (1.0 + tl.math.erf(h * 0.7071067811865476))
        pdf = tl.exp(-0.5 * h * h) * 0.3989422804014327  # 1 / sqrt(2 pi)
        out = m[:, None] * hidden + j[None, :]
        keep = mask_m[:, None] & mask_j[None, :]
        tl.store(dh_ptr + out, (dg * (cdf + h * pdf)).to(dh_ptr.dtype.element_ty), mask=keep)
        tl.store(g_ptr + out, (h * cdf).to(g_ptr.dtype.element_ty), mask=keep)


def _launch(
    x: Tensor, w1: Tensor, b1: Tensor | None, w2: Tensor, b2: Tensor | None, dtype: torch.dtype, config=None
) -> Tensor:
    """``y`` (``dtype``, ``x``'s shape) from the kernel at the launch shape of ``_launch_config``, or at
    ``config`` (a ``triton.Config``, to time one launch shape)."""
    c = x.shape[-1]
    hidden = w1.shape[0]
    y = torch.empty(x.shape, device=x.device, dtype=dtype)
    rows = y.numel() // max(c, 1)
    if rows == 0:
        return y
    x = x.reshape(rows, c)  # a view when x's rows are evenly strided, else a copy
    if x.stride(-1) != 1 or x.stride(0) != c:
        x = x.contiguous()
    w1, w2 = w1.contiguous(), w2.contiguous()
    interpret = triton.knobs.runtime.interpret
    meta = dict(
        C=c, C_PAD=max(16, triton.next_power_of_2(c)), HAS_B1=b1 is not None, HAS_B2=b2 is not None,
        # Triton's CPU interpreter gets 16-bit products wrong; there they are widened.
        F32_DOT=dtype == torch.float32 or interpret,
    )  # fmt: skip
    args = (x, w1, w1 if b1 is None else b1.contiguous(), w2, w2 if b2 is None else b2.contiguous(), y, rows, hidden)

    config = config or _launch_config(c, max(t.element_size() for t in (x, w1, w2, y)))
    grid = (triton.cdiv(rows, config.kwargs["BLOCK_M"]),)
    # Through wrap_triton, so that inside torch.compile Inductor launches the kernel from its generated code. The
    # shape goes to the launch itself: offered through an autotuner's pruning, the compiled width-256 call ran 40 %
    # slower than this shape launched directly (bench/RESULTS.md).
    kernel = _mlp_kernel if interpret else torch.library.wrap_triton(_mlp_kernel)
    kernel[grid](*args, **meta, **config.kwargs, num_warps=config.num_warps, num_stages=config.num_stages)
    return y


@torch.library.triton_op("vmix::mlp_fwd", mutates_args=())
def _mlp_fwd(x: Tensor, w1: Tensor, b1: Tensor | None, w2: Tensor, b2: Tensor | None, dtype: torch.dtype) -> Tensor:
    return _launch(x, w1, b1, w2, b2, dtype)


def _setup_context(ctx, inputs, output):
    x, w1, b1, w2, b2, dtype = inputs
    ctx.save_for_backward(x, w1, b1, w2)
    ctx.dtype = dtype
    ctx.b2_dtype = None if b2 is None else b2.dtype


@torch.library.triton_op("vmix::mlp_bwd_hidden", mutates_args=())
def _mlp_bwd_hidden(x: Tensor, w1: Tensor, b1: Tensor | None, w2: Tensor, dy: Tensor) -> tuple[Tensor, Tensor]:
    """``(dh, g)``, ``(rows, hidden)`` each in ``dy``'s dtype, from the backward kernel; every input ``(rows, ·)``
    contiguous and of one dtype."""
    rows, c = x.shape
    hidden = w1.shape[0]
    dh = torch.empty(rows, hidden, device=x.device, dtype=dy.dtype)
    g = torch.empty_like(dh)
    if rows == 0:
        return dh, g
    interpret = triton.knobs.runtime.interpret
    config = _launch_config(c, dy.element_size(), backward=True)
    meta = dict(
        C=c, C_PAD=max(16, triton.next_power_of_2(c)), HAS_B1=b1 is not None,
        F32_DOT=dy.dtype == torch.float32 or interpret, **config.kwargs,
    )  # fmt: skip
    grid = (triton.cdiv(rows, config.kwargs["BLOCK_M"]),)
    args = (x, w1, w1 if b1 is None else b1, w2, dy, dh, g, rows, hidden)
    launch = dict(num_warps=config.num_warps, num_stages=config.num_stages)
    kernel = _mlp_bwd_kernel if interpret else torch.library.wrap_triton(_mlp_bwd_kernel)
    kernel[grid](*args, **meta, **launch)
    return dh, g


def _backward(ctx, dy):
    # In the forward's dtype, as autocast runs the unfused layers. The kernel gives dh and gelu(h) from x and dy
    # (h recomputed on chip, never written); the four products of the gradients are cuBLAS's.
    x, w1, b1, w2 = ctx.saved_tensors
    dtype = ctx.dtype
    c = x.shape[-1]
    flat_x = x.to(dtype).reshape(-1, c).contiguous()
    flat_dy = dy.to(dtype).reshape(-1, c).contiguous()
    w1c, w2c = w1.to(dtype).contiguous(), w2.to(dtype).contiguous()
    b1c = None if b1 is None else b1.to(dtype).contiguous()
    dh, g = _mlp_bwd_hidden(flat_x, w1c, b1c, w2c, flat_dy)
    dx = (dh @ w1c).reshape(x.shape).to(x.dtype)
    dw1, dw2 = dh.T @ flat_x, flat_dy.T @ g
    db1 = None if b1 is None else dh.sum(0).to(b1.dtype)
    db2 = None if ctx.b2_dtype is None else flat_dy.sum(0).to(ctx.b2_dtype)
    return dx, dw1.to(w1.dtype), db1, dw2.to(w2.dtype), db2, None


_mlp_fwd.register_autograd(_backward, setup_context=_setup_context)


@shapecheck
def mlp_triton(
    x: Float[Tensor, "*batch c"],
    fc1_weight: Float[Tensor, "hidden c"],
    fc1_bias: Float[Tensor, " hidden"] | None,
    fc2_weight: Float[Tensor, "c hidden"],
    fc2_bias: Float[Tensor, " c"] | None,
    *,
    out_dtype: torch.dtype | None = None,
) -> Float[Tensor, "*batch c"]:
    """The MLP in Triton kernels (same meaning as the reference form): the forward in one, and a backward kernel that
    recomputes ``h`` and hands ``dh`` and ``gelu(h)`` to cuBLAS's gradient products. No hidden-wide tensor is kept
    between forward and backward: training takes 16-19 % less peak memory in the tiny models (bench/RESULTS.md).

    The products take their operands in ``out_dtype`` (``x``'s dtype by default; the inputs are cast on load) and
    accumulate in float32; GELU is applied to the float32 ``h``. Gradients come back in their inputs' dtypes.

    Args:
        x: ``(..., c)``, ``c ≤ MAX_CHANNELS``; float32, float16 or bfloat16.
        fc1_weight: ``(hidden, c)``, ``nn.Linear``'s layout.
        fc1_bias: ``(hidden,)`` or ``None``.
        fc2_weight: ``(c, hidden)``.
        fc2_bias: ``(c,)`` or ``None``.
        out_dtype: the dtype of the products and of the result.

    Returns:
        ``(..., c)``, contiguous.

    Raises:
        ValueError: for float64 inputs, tensors off the GPU, or ``c > MAX_CHANNELS`` (use ``impl="aten"``).

    Example:
        >>> # needs a GPU (or TRITON_INTERPRET=1 on the CPU)
        >>> x, w1, w2 = (torch.randn(*s, device="cuda") for s in [(2, 9, 32), (128, 32), (32, 128)])  # doctest: +SKIP
        >>> mlp_triton(x, w1, None, w2, None).shape  # doctest: +SKIP
        torch.Size([2, 9, 32])
    """
    dtype = x.dtype if out_dtype is None else out_dtype
    if torch.float64 in (x.dtype, fc1_weight.dtype, fc2_weight.dtype, dtype):
        raise ValueError("mlp_triton computes in float32 at most; for float64 inputs use impl='aten' or 'reference'")
    if not x.is_cuda and not triton.knobs.runtime.interpret:
        raise ValueError(f"mlp_triton runs on a GPU; got {x.device.type} tensors (use impl='aten')")
    if x.shape[-1] > MAX_CHANNELS:
        raise ValueError(f"mlp_triton takes up to {MAX_CHANNELS} channels; got {x.shape[-1]} (use impl='aten')")
    return _mlp_fwd(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias, dtype)
