"""The depthwise convolution as Triton kernels that read a channels-last map through its strides.

A depthwise convolution reads and writes its map once and does ``k²`` multiply-adds per element, so it is bound by
memory traffic. Two things cost cuDNN's kernel more than that on the maps vmix feeds it (``bench/RESULTS.md``): the
input is often a channel slice of a projection's output (NC-SSD's ``xBC``), which the library copies to a dense
tensor first, and its kernel for small kernels runs well below the copy bandwidth. Here each program owns a tile of
``BLOCK_P`` pixels (in raster order, so any map size fills the tiles) by ``BLOCK_C`` channels and sums the ``k²``
shifted loads of its tile, which neighbouring programs share through the cache.

The backward's input gradient is the same kernel run on the output gradient with the kernel flipped; the weight
gradient sums ``x`` shifted by every tap times ``dy`` over pixel ranges, one range per program (a float32 partial sum
per range, added up afterwards, so the result is deterministic). Registered as ``torch.library`` ops with fake
implementations and autograd, so ``torch.compile(fullgraph=True)`` traces through them. Importing this module without
triton raises ``ImportError``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck

__all__ = ["dwconv_triton"]

# A weight-gradient program's accumulator holds (taps, pixels, channels) float32 numbers; configs that would need
# more than this many registers per thread for it are not tried.
_ACC_REGS = 16
# Pixel ranges the weight gradient is split into (each one program per channel block): enough programs to fill
# the GPU, few enough that summing the partial sums stays negligible.
_MAX_SPLITS = 256


def _fwd_configs() -> list[triton.Config]:
    return [
        triton.Config({"BLOCK_P": p, "BLOCK_C": c}, num_warps=w)
        for p, c, w in [(32, 32, 4), (64, 32, 8), (16, 64, 4), (32, 64, 8), (16, 32, 4)]
    ]


def _bwd_w_configs() -> list[triton.Config]:
    return [
        triton.Config({"BLOCK_P": p, "BLOCK_C": c}, num_warps=w)
        for p, c, w in [(4, 32, 4), (2, 64, 4), (8, 32, 8), (2, 32, 4), (1, 64, 4), (1, 32, 4)]
    ]


def _fits(configs, named_args, **kwargs):
    kk = {**named_args, **kwargs}["KK_PAD"]
    keep = [c for c in configs if kk * c.kwargs["BLOCK_P"] * c.kwargs["BLOCK_C"] <= _ACC_REGS * 32 * c.num_warps]
    return keep or configs[-1:]


@triton.jit
def _taps_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, height, width, channels, sx_b, sx_h, sx_w,
    K: tl.constexpr, FLIP: tl.constexpr, HAS_BIAS: tl.constexpr, SILU: tl.constexpr, BLOCK_P: tl.constexpr,
    BLOCK_C: tl.constexpr,
):  # fmt: skip
    """``y = Σ_taps w · shifted x (+ bias)`` on a (pixels, channels) tile, then SiLU if ``SILU``; ``FLIP`` uses the
    kernel rotated by 180° (the input gradient). ``x`` is read through its (batch, row, column) strides, channels
    contiguous; ``y`` is a dense channels-last map."""
    pid_b = tl.program_id(2).to(tl.int64)
    pix = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    chan = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_p = pix < height * width
    mask_c = chan < channels
    row = pix // width
    col = pix % width
    # One pointer per element, moved by a scalar per tap: the taps share their address arithmetic.
    centre = x_ptr + pid_b * sx_b + (row * sx_h + col * sx_w)[:, None] + chan[None, :]
    acc = tl.zeros((BLOCK_P, BLOCK_C), tl.float32)
    PAD: tl.constexpr = K // 2
    for s in tl.static_range(K):
        ok_r = mask_p & (row + (s - PAD) >= 0) & (row + (s - PAD) < height)
        for t in tl.static_range(K):
            ok = ok_r & (col + (t - PAD) >= 0) & (col + (t - PAD) < width)
            xv = tl.load(centre + ((s - PAD) * sx_h + (t - PAD) * sx_w), mask=ok[:, None] & mask_c[None, :], other=0.0)
            tap = (K * K - 1 - (s * K + t)) if FLIP else (s * K + t)
            wv = tl.load(w_ptr + chan * (K * K) + tap, mask=mask_c, other=0.0).to(tl.float32)
            acc += xv.to(tl.float32) * wv[None, :]
    if HAS_BIAS:
        acc += tl.load(b_ptr + chan, mask=mask_c, other=0.0).to(tl.float32)[None, :]
    if SILU:
        acc = acc * tl.sigmoid(acc)
    y = y_ptr + (pid_b * height * width + pix[:, None]) * channels + chan[None, :]
    tl.store(y, acc.to(y_ptr.dtype.element_ty), mask=mask_p[:, None] & mask_c[None, :])


_taps = triton.autotune(_fwd_configs(), key=["height", "width", "channels", "K"])(_taps_kernel)


@triton.jit
def _weight_grad_kernel(
    x_ptr, dy_ptr, dw_ptr, db_ptr, pixels, height, width, channels, sx_b, sx_h, sx_w,
    K: tl.constexpr, KK_PAD: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):  # fmt: skip
    """Partial sums over one range of pixels (all images flattened) of ``x`` shifted by every tap times ``dy``:
    ``dw[split, c, tap]`` and ``db[split, c]``. The taps are one axis of the tile, so each tile is one wide load."""
    split = tl.program_id(0)
    chan = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = chan < channels
    taps = tl.arange(0, KK_PAD)
    PAD: tl.constexpr = K // 2
    dr = taps // K - PAD
    dc = taps % K - PAD
    mask_t = taps < K * K
    tiles = tl.cdiv(pixels, BLOCK_P)
    per_split = tl.cdiv(tiles, tl.num_programs(0))
    hw = height * width
    acc = tl.zeros((KK_PAD, BLOCK_P, BLOCK_C), tl.float32)
    acc_b = tl.zeros((BLOCK_P, BLOCK_C), tl.float32)
    for i in tl.range(0, per_split):
        pix = (split * per_split + i) * BLOCK_P + tl.arange(0, BLOCK_P)  # int32: pixels, not elements
        mask_p = pix < pixels
        img = pix // hw
        row = (pix % hw) // width
        col = pix % width
        g = tl.load(
            dy_ptr + pix.to(tl.int64)[:, None] * channels + chan[None, :],
            mask=mask_p[:, None] & mask_c[None, :],
            other=0.0,
        ).to(tl.float32)
        r = row[None, :] + dr[:, None]
        c = col[None, :] + dc[:, None]
        ok = mask_t[:, None] & mask_p[None, :] & (r >= 0) & (r < height) & (c >= 0) & (c < width)
        offs = img.to(tl.int64)[None, :] * sx_b + r * sx_h + c * sx_w
        xv = tl.load(x_ptr + offs[:, :, None] + chan[None, None, :], mask=ok[:, :, None] & mask_c[None, None, :],
                     other=0.0)  # fmt: skip
        acc += xv.to(tl.float32) * g[None, :, :]
        if HAS_BIAS:
            acc_b += g
    dw = dw_ptr + (split * channels + chan[None, :]) * (K * K) + taps[:, None]
    tl.store(dw, tl.sum(acc, axis=1), mask=mask_t[:, None] & mask_c[None, :])
    if HAS_BIAS:
        tl.store(db_ptr + split * channels + chan, tl.sum(acc_b, axis=0), mask=mask_c)


_weight_grad = triton.autotune(
    _bwd_w_configs(), key=["height", "width", "channels", "K"], prune_configs_by={"early_config_prune": _fits}
)(_weight_grad_kernel)


def _launch(tuned, grid, args: tuple, meta: dict) -> None:
    """Run a kernel with its autotuned launch shape, or in Triton's CPU interpreter with the first that fits.

    Through ``wrap_triton``, so that inside ``torch.compile`` Inductor launches the kernel from its own generated
    code (a Python launch through the autotuner costs tens of microseconds, more than a small map's kernel)."""
    if triton.knobs.runtime.interpret:  # nothing worth tuning on
        configs = tuned.early_config_prune(tuned.configs, {}, **meta) if tuned.early_config_prune else tuned.configs
        config = configs[0].kwargs
        tuned.fn[grid(config)](*args, **meta, **config)
    else:
        torch.library.wrap_triton(tuned)[grid](*args, **meta)


def _channels_last_view(x: Tensor) -> Tensor:
    """``x`` itself when its channels are contiguous (any other strides are read as they are), else a copy."""
    return x if x.stride(-1) == 1 else x.contiguous()


def _taps_launch(
    x: Tensor, weight: Tensor, bias: Tensor | None, out_dtype: torch.dtype, *, flip: bool, silu: bool
) -> Tensor:
    b, height, width, channels = x.shape
    y = torch.empty(b, height, width, channels, device=x.device, dtype=out_dtype)
    if y.numel() == 0:
        return y
    x = _channels_last_view(x)
    weight = weight.contiguous()

    def grid(meta):
        return (triton.cdiv(height * width, meta["BLOCK_P"]), triton.cdiv(channels, meta["BLOCK_C"]), b)

    args = (x, weight, weight if bias is None else bias.contiguous(), y, height, width, channels, *x.stride()[:3])
    _launch(_taps, grid, args, dict(K=weight.shape[-1], FLIP=flip, HAS_BIAS=bias is not None, SILU=silu))
    return y


# A triton_op, not a custom_op: Inductor sees the kernel and its launch (the inference path runs it 53 times a step
# in vssd_tiny); its fake implementation is the same code run on fake tensors.
@torch.library.triton_op("vmix::dwconv_fwd", mutates_args=())
def _dwconv_fwd(x: Tensor, weight: Tensor, bias: Tensor | None, out_dtype: torch.dtype, silu: bool) -> Tensor:
    return _taps_launch(x, weight, bias, out_dtype, flip=False, silu=silu)


@torch.library.custom_op("vmix::dwconv_bwd", mutates_args=())
def _dwconv_bwd(dy: Tensor, x: Tensor, weight: Tensor, has_bias: bool) -> tuple[Tensor, Tensor, Tensor]:
    b, height, width, channels = x.shape
    k = weight.shape[-1]
    dy = dy.contiguous()
    dx = _taps_launch(dy, weight, None, x.dtype, flip=True, silu=False)
    pixels = b * height * width
    splits = max(1, min(_MAX_SPLITS, triton.cdiv(pixels, 512)))
    f32 = dict(device=x.device, dtype=torch.float32)
    dw = torch.empty(splits, channels, k * k, **f32)
    db = torch.empty(splits, channels if has_bias else 0, **f32)
    if pixels:
        x = _channels_last_view(x)
        _launch(
            _weight_grad,
            lambda meta: (splits, triton.cdiv(channels, meta["BLOCK_C"])),
            (x, dy, dw, db if has_bias else dw, pixels, height, width, channels, *x.stride()[:3]),
            dict(K=k, KK_PAD=triton.next_power_of_2(k * k), HAS_BIAS=has_bias),
        )
    else:
        dw.zero_()
        db.zero_()
    return dx, dw.sum(0).view(weight.shape).to(weight.dtype), db.sum(0)


@_dwconv_bwd.register_fake
def _(dy, x, weight, has_bias):
    return x.new_empty(x.shape), weight.new_empty(weight.shape), weight.new_empty(weight.shape[0] if has_bias else 0,
                                                                                  dtype=torch.float32)  # fmt: skip


def _setup_context(ctx, inputs, output):
    x, weight, bias, _, silu = inputs
    ctx.save_for_backward(x, weight, bias if silu else None)
    ctx.bias_dtype = None if bias is None else bias.dtype
    ctx.silu = silu


def _backward(ctx, dy):
    x, weight, bias = ctx.saved_tensors
    if ctx.silu:  # the pre-activation is recomputed, not kept: the fused forward is there to save its bytes
        pre = _dwconv_fwd(x, weight, bias, torch.float32, False)
        gate = torch.sigmoid(pre)
        dy = dy * gate * (1 + pre * (1 - gate))  # float32: the kernels read any dtype
    has_bias = ctx.bias_dtype is not None
    dx, dw, db = _dwconv_bwd(dy, x, weight, has_bias)
    return dx, dw, db.to(ctx.bias_dtype) if has_bias else None, None, None


_dwconv_fwd.register_autograd(_backward, setup_context=_setup_context)


@shapecheck
def dwconv_triton(
    x: Float[Tensor, "b h w c"],
    weight: Float[Tensor, "c 1 k k"],
    bias: Float[Tensor, " c"] | None = None,
    *,
    activation: str | None = None,
    out_dtype: torch.dtype | None = None,
) -> Float[Tensor, "b h w c"]:
    """The depthwise convolution in Triton kernels, forward and backward (same meaning as the reference form).

    Arithmetic in float32 whatever the dtypes; the result in ``out_dtype`` (``x``'s dtype by default), gradients in
    their inputs' dtypes. ``activation="silu"`` applies SiLU to the float32 sum before it is stored (its backward
    recomputes the convolution rather than keeping it). ``x`` is read through its strides as long as its channels
    are contiguous, so a channel slice of a larger tensor costs no copy.

    Args:
        x: channels-last map ``(batch, h, w, c)``, float32, float16 or bfloat16.
        weight: ``(c, 1, k, k)``, ``k`` odd.
        bias: ``(c,)`` or ``None``.
        activation: ``None`` or ``"silu"``.
        out_dtype: dtype of the result.

    Returns:
        ``(batch, h, w, c)``, contiguous.

    Raises:
        ValueError: for float64 inputs or tensors off the GPU (use ``impl="aten"`` or ``"reference"``), or an
            unknown ``activation``.

    Example:
        >>> # needs a GPU (or TRITON_INTERPRET=1 on the CPU)
        >>> x, w = torch.randn(2, 5, 7, 16, device="cuda"), torch.randn(16, 1, 3, 3, device="cuda")  # doctest: +SKIP
        >>> dwconv_triton(x, w).shape  # doctest: +SKIP
        torch.Size([2, 5, 7, 16])
    """
    if torch.float64 in (x.dtype, weight.dtype):
        raise ValueError("dwconv_triton computes in float32; for float64 inputs use impl='aten' or 'reference'")
    if not x.is_cuda and not triton.knobs.runtime.interpret:
        raise ValueError(f"dwconv_triton runs on a GPU; got {x.device.type} tensors (use impl='aten')")
    if activation not in (None, "silu"):
        raise ValueError(f"dwconv_triton: unknown activation {activation!r}; expected None or 'silu'")
    return _dwconv_fwd(x, weight, bias, x.dtype if out_dtype is None else out_dtype, activation == "silu")
