"""SS2D's core as Triton kernels: no cross-scan copies, no Δ tensor, no per-direction output.

Each program owns a block of channels of one image and one of the four traversals of its map, reading ``u``
straight from the channels-last map in that direction's token order, computing ``Δ = softplus(dt_weight · dt_low +
dt_bias)`` on chip (one small matrix product per tile, the weights loaded once per program) from the ``R`` numbers
per token and direction, and adding its output into one float32 map with atomic adds, so the ``4·E``-channel
tensors the composed form writes and reads (the cross-scan's copies, Δ, the scan's output) never exist.
``bench/NOTES_ss2d_core.md`` counts the bytes this saves. The scan inside a tile is an associative scan over
``(a, b)`` pairs, with the carried state folded into the tile's first element, as in the selective scan's kernel.

The backward (d_state 1, VMamba's setting) walks each traversal in reverse from the states the forward kept every
tile: it recomputes the tile's states, runs the adjoint scan, adds ``du`` into one map of ``E`` channels and the
gradients of ``dt_low``, ``B`` and ``C`` into ``x_dbl``'s layout (atomic adds again: the four directions meet at
each map position, the channel blocks at each token), and keeps the parameter gradients as per-image partial sums.

The directions' sums arrive in whatever order the programs run, so results can differ from run to run in the
last bits of float32 (:func:`~vmix.ops.ss2d_core.ss2d_core` does not pick this form when
``torch.use_deterministic_algorithms`` is on). Registered as ``torch.library`` ops with fake implementations and
autograd, so ``torch.compile(fullgraph=True)`` traces through them. Importing this module without triton raises
``ImportError``.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops.cross_scan.fused import _traversals
from vmix.ops.selective_scan.triton import _adjoint_combine, _affine_combine, _softplus
from vmix.ops.ss2d_core.composed import check_core_inputs

__all__ = ["ss2d_core_fused"]

_LOG2E = tl.constexpr(1.4426950408889634)
# Tokens per tile; also the spacing of the states the training forward keeps for the backward (4 bytes per 16
# tokens of a channel and direction, a quarter of the float32 output's size).
_BLOCK_L = 16
# Launch shapes tried once per (batch, length, channels, dt rank) on a GPU: fewer channels per program gives more
# programs to hide each program's serial walk with. Only shapes that won somewhere are offered, since every one is
# compiled and timed at the first call of each stage (the first training step's cost). The backward won at 16
# channels and one warp at every stage of VMamba-T (`bench/RESULTS.md`, the launch-shape sweep: 1.7x faster than two
# warps at stage 1); the forward at two warps at stages 1-2, 32 channels with four warps at stage 3, one at stage 4.
_FWD_CONFIGS = [triton.Config({"BLOCK_E": e}, num_warps=warps) for e, warps in [(16, 2), (32, 1), (32, 4)]]
_BWD_CONFIGS = [triton.Config({"BLOCK_E": 16}, num_warps=1)]


@triton.jit
def _program(channels, BLOCK_E: tl.constexpr):
    """This program's direction, image and channels (with their mask), on a grid of (channel blocks, 4, batch)."""
    offs_e = tl.program_id(0) * BLOCK_E + tl.arange(0, BLOCK_E)
    return tl.program_id(1), tl.program_id(2).to(tl.int64), offs_e, offs_e < channels


@triton.jit
def _tile(
    tile, order, z_map, seq, length, channels, offs_e, mask_e, row_b, row_c,
    R: tl.constexpr, R_PAD: tl.constexpr, EVEN_L: tl.constexpr, BLOCK_L: tl.constexpr,
):  # fmt: skip
    """Tile ``tile`` (in ``[0, num_tiles)``) of the direction whose token order is ``order``: its steps ``t``, their
    masks (false past the map's end; all true when the tiles fill the map exactly, so that the compiler drops them),
    their map cells, ``u`` from the map, ``dt_low`` ``(BLOCK_L, R_PAD)`` (zero past the rank: a product with a padded
    row must stay 0) and the ``B``, ``C`` rows in float32."""
    t = tile * BLOCK_L + tl.arange(0, BLOCK_L)
    if EVEN_L:  # noqa: SIM108 (a constexpr branch: the all-true mask is folded away)
        mask_t = tl.full((BLOCK_L,), True, tl.int1)
    else:
        mask_t = t < length
    mask = mask_t[:, None] & mask_e[None, :]
    cells = tl.load(order + t, mask=mask_t, other=0)[:, None] * channels + offs_e[None, :]
    u = tl.load(z_map + cells, mask=mask, other=0.0)
    ranks = tl.arange(0, R_PAD)
    low = tl.load(seq + ranks[None, :] * length + t[:, None], mask=mask_t[:, None] & (ranks[None, :] < R), other=0.0)
    Bv = tl.load(seq + row_b * length + t, mask=mask_t, other=0.0).to(tl.float32)
    Cv = tl.load(seq + row_c * length + t, mask=mask_t, other=0.0).to(tl.float32)
    return t, mask_t, mask, cells, u, low, Bv, Cv


@triton.jit
def _delta(low, w, bias, F32_DOT: tl.constexpr, FAST: tl.constexpr):
    """``(softplus(dt), sigmoid(dt))`` of ``dt = low · w + bias`` on a tile: ``(BLOCK_L, R_PAD) · (R_PAD, BLOCK_E)``."""
    if F32_DOT:  # noqa: SIM108 (float32 inputs: full precision, not TF32)
        dt = tl.dot(low.to(tl.float32), w.to(tl.float32), input_precision="ieee")
    else:  # bf16 / fp16 operands, float32 sums, as autocast runs VMamba's dt_projs
        dt = tl.dot(low, w)
    return _softplus(dt + bias[None, :], FAST)


@triton.jit
def _fwd_kernel(
    z_ptr, xdbl_ptr, w_ptr, bias_ptr, A_ptr, D_ptr, out_ptr, state_ptr,
    order_ptr, batch, length, channels, num_tiles,
    R: tl.constexpr, R_PAD: tl.constexpr, N: tl.constexpr, F32_DOT: tl.constexpr, SAVE_STATES: tl.constexpr,
    FAST: tl.constexpr, EVEN_L: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_E: tl.constexpr,
):  # fmt: skip
    k, pid_b, offs_e, mask_e = _program(channels, BLOCK_E)
    steps = tl.arange(0, BLOCK_L)
    ranks = tl.arange(0, R_PAD)
    J: tl.constexpr = R + 2 * N
    z_map = z_ptr + pid_b * length * channels
    out_map = out_ptr + pid_b * length * channels
    seq = xdbl_ptr + (pid_b * 4 + k) * J * length
    kc = k * channels + offs_e  # (direction, channel) index into the 4·E-long parameters
    # dt_weight[k] transposed, (R_PAD, BLOCK_E), in x_dbl's dtype: loaded once, used by every tile.
    w = tl.load(w_ptr + kc[None, :] * R + ranks[:, None], mask=(ranks[:, None] < R) & mask_e[None, :], other=0.0)
    bias = tl.load(bias_ptr + kc, mask=mask_e, other=0.0)
    Dv = tl.load(D_ptr + kc, mask=mask_e, other=0.0)
    states = state_ptr + (pid_b * 4 + k) * num_tiles * channels + offs_e  # (batch, 4, tiles, E), d_state 1
    for n in tl.static_range(N):
        A2 = tl.load(A_ptr + kc * N + n, mask=mask_e, other=0.0) * _LOG2E
        h = tl.zeros((BLOCK_E,), tl.float32)
        # Each tile's inputs are loaded one iteration ahead: the walk is serial, and the loads' latency, not the
        # bytes, is what bounds it.
        # (The last iteration loads the last tile again rather than a masked one past the end: fewer masks.)
        geometry = (order_ptr + k * length, z_map, seq, length, channels, offs_e, mask_e, R + n, R + N + n)
        _t, _mask_t, mask, cells, u, low, Bv, Cv = _tile(0, *geometry, R, R_PAD, EVEN_L, BLOCK_L)
        for tile in tl.range(0, num_tiles):
            ahead = tl.minimum(tile + 1, num_tiles - 1)
            _t, _mask_t, mask1, cells1, u1, low1, Bv1, Cv1 = _tile(ahead, *geometry, R, R_PAD, EVEN_L, BLOCK_L)

            uf = u.to(tl.float32)
            delta, _ = _delta(low, w, bias, F32_DOT, FAST)
            delta = tl.where(mask, delta, 0.0)  # past the end: decay 1, no input
            a = tl.exp2(delta * A2[None, :])
            b = delta * Bv[:, None] * uf
            b = tl.where(steps[:, None] == 0, b + a * h[None, :], b)
            _, hs = tl.associative_scan((a, b), axis=0, combine_fn=_affine_combine)
            y = Cv[:, None] * hs
            if n == 0:
                y += Dv[None, :] * uf
            tl.atomic_add(out_map + cells, y, mask=mask, sem="relaxed")
            h = tl.sum(tl.where(steps[:, None] == BLOCK_L - 1, hs, 0.0), axis=0)
            if SAVE_STATES:
                tl.store(states + tile * channels, h, mask=mask_e)
            mask, cells, u, low, Bv, Cv = mask1, cells1, u1, low1, Bv1, Cv1


@triton.jit
def _bwd_kernel(
    z_ptr, xdbl_ptr, w_ptr, bias_ptr, A_ptr, D_ptr, dout_ptr, state_ptr,
    dz_ptr, dxdbl_ptr, dw_ptr, dbias_ptr, dA_ptr, dD_ptr,
    order_ptr, batch, length, channels, num_tiles,
    R: tl.constexpr, R_PAD: tl.constexpr, F32_DOT: tl.constexpr, FAST: tl.constexpr,
    EVEN_L: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_E: tl.constexpr,
):  # fmt: skip
    k, pid_b, offs_e, mask_e = _program(channels, BLOCK_E)
    steps = tl.arange(0, BLOCK_L)
    ranks = tl.arange(0, R_PAD)
    mask_r = ranks < R
    J: tl.constexpr = R + 2
    z_map = z_ptr + pid_b * length * channels
    dz_map = dz_ptr + pid_b * length * channels
    dout_map = dout_ptr + pid_b * length * channels
    seq = xdbl_ptr + (pid_b * 4 + k) * J * length
    dseq = dxdbl_ptr + (pid_b * 4 + k) * J * length
    kc = k * channels + offs_e
    w = tl.load(w_ptr + kc[None, :] * R + ranks[:, None], mask=mask_r[:, None] & mask_e[None, :], other=0.0)
    bias = tl.load(bias_ptr + kc, mask=mask_e, other=0.0)
    Dv = tl.load(D_ptr + kc, mask=mask_e, other=0.0)
    A = tl.load(A_ptr + kc, mask=mask_e, other=0.0)
    A2 = A * _LOG2E
    states = state_ptr + (pid_b * 4 + k) * num_tiles * channels + offs_e
    carry = tl.zeros((BLOCK_E,), tl.float32)  # a_{l+1} g_{l+1} at the tile's right edge
    dW = tl.zeros((R_PAD, BLOCK_E), tl.float32)
    dbias = tl.zeros((BLOCK_E,), tl.float32)
    dA = tl.zeros((BLOCK_E,), tl.float32)
    dD = tl.zeros((BLOCK_E,), tl.float32)
    # Loads one iteration ahead, as in the forward.
    geometry = (order_ptr + k * length, z_map, seq, length, channels, offs_e, mask_e, R, R + 1)
    tile = num_tiles - 1
    t, mask_t, mask, cells, u, low, Bv, Cv = _tile(tile, *geometry, R, R_PAD, EVEN_L, BLOCK_L)
    dy = tl.load(dout_map + cells, mask=mask, other=0.0)
    h0 = tl.load(states + (tile - 1) * channels, mask=mask_e & (tile > 0), other=0.0)
    for i in tl.range(0, num_tiles):
        tile = tl.maximum(num_tiles - 2 - i, 0)  # the next one (the last iteration loads tile 0 again, unused)
        t1, mask_t1, mask1, cells1, u1, low1, Bv1, Cv1 = _tile(tile, *geometry, R, R_PAD, EVEN_L, BLOCK_L)
        dy1 = tl.load(dout_map + cells1, mask=mask1, other=0.0)
        h01 = tl.load(states + (tile - 1) * channels, mask=mask_e & (tile > 0), other=0.0)

        uf, dyf = u.to(tl.float32), dy.to(tl.float32)
        delta, dsp = _delta(low, w, bias, F32_DOT, FAST)
        delta = tl.where(mask, delta, 0.0)
        a = tl.exp2(delta * A2[None, :])
        bu = Bv[:, None] * uf
        b = delta * bu
        # The tile's states, recomputed from the state that enters it (kept by the forward).
        _, h = tl.associative_scan(
            (a, tl.where(steps[:, None] == 0, b + a * h0[None, :], b)), axis=0, combine_fn=_affine_combine
        )
        # Adjoint: g_l = C_l dy_l + a_{l+1} g_{l+1}, plus what flows in from the tile after this one.
        _, p, acc = tl.associative_scan(
            (tl.flip(a, 0), tl.full(a.shape, 1.0, tl.float32), tl.flip(Cv[:, None] * dyf, 0)),
            axis=0,
            combine_fn=_adjoint_combine,
        )
        g = tl.flip(acc + p * carry[None, :], 0)
        carry = tl.sum(tl.where(steps[:, None] == 0, a * g, 0.0), axis=0)
        ah = h - b  # a_l h_{l-1}
        gdt = g * delta
        tl.atomic_add(dz_map + cells, gdt * Bv[:, None] + Dv[None, :] * dyf, mask=mask, sem="relaxed")
        # dΔ through b = Δ B u and through a = exp(Δ A), then through the softplus; zero past the end.
        ddt = tl.where(mask, g * (bu + A[None, :] * ah) * dsp, 0.0)
        if F32_DOT:
            dlow = tl.dot(ddt, tl.trans(w.to(tl.float32)), input_precision="ieee")
            dW += tl.dot(tl.trans(low.to(tl.float32)), ddt, input_precision="ieee")
        else:
            dlow = tl.dot(ddt.to(w.dtype), tl.trans(w))
            dW += tl.dot(tl.trans(low), ddt.to(low.dtype))
        dlow_at = dseq + ranks[None, :] * length + t[:, None]
        tl.atomic_add(dlow_at, dlow, mask=mask_t[:, None] & mask_r[None, :], sem="relaxed")
        tl.atomic_add(dseq + R * length + t, tl.sum(tl.where(mask, gdt * uf, 0.0), axis=1), mask=mask_t, sem="relaxed")
        tl.atomic_add(dseq + (R + 1) * length + t, tl.sum(dyf * h, axis=1), mask=mask_t, sem="relaxed")
        dbias += tl.sum(ddt, axis=0)
        dA += tl.sum(tl.where(mask, gdt * ah, 0.0), axis=0)
        dD += tl.sum(dyf * uf, axis=0)
        t, mask_t, mask, cells, u, dy, low, Bv, Cv, h0 = t1, mask_t1, mask1, cells1, u1, dy1, low1, Bv1, Cv1, h01
    # Per-image partial sums of the parameter gradients, summed over the batch outside.
    part = (pid_b * 4 + k) * channels + offs_e
    tl.store(dw_ptr + part[None, :] * R + ranks[:, None], dW, mask=mask_r[:, None] & mask_e[None, :])
    tl.store(dbias_ptr + part, dbias, mask=mask_e)
    tl.store(dA_ptr + part, dA, mask=mask_e)
    tl.store(dD_ptr + part, dD, mask=mask_e)


# The batch is in the keys because it sets how many programs share the GPU, and so which shape hides latency best.
_KEY = ["batch", "length", "channels", "R"]
_fwd_tuned = triton.autotune(_FWD_CONFIGS, key=_KEY, reset_to_zero=["out_ptr"])(_fwd_kernel)
_bwd_tuned = triton.autotune(_BWD_CONFIGS, key=_KEY, reset_to_zero=["dz_ptr", "dxdbl_ptr"])(_bwd_kernel)


def _launch(tuned, kernel, grid_tail: tuple[int, int], channels: int, args: tuple, meta: dict) -> None:
    """Run ``kernel`` with the autotuned launch shape, or a fixed one in Triton's CPU interpreter."""
    if triton.knobs.runtime.interpret:  # nothing worth tuning on
        kernel[(triton.cdiv(channels, 32), *grid_tail)](*args, **meta, FAST=False, BLOCK_L=_BLOCK_L, BLOCK_E=32)
    else:
        tuned[lambda cfg: (triton.cdiv(channels, cfg["BLOCK_E"]), *grid_tail)](
            *args, **meta, FAST=True, BLOCK_L=_BLOCK_L
        )


def _dot_meta(x_dbl: Tensor, r: int) -> dict:
    # Δ's projection as composed runs it: in x_dbl's dtype with a float32 sum (bf16 tensor cores under autocast).
    # Triton's CPU interpreter gets 16-bit products wrong; there the operands, exact in float32, are widened.
    f32_dot = x_dbl.dtype == torch.float32 or triton.knobs.runtime.interpret
    return dict(R=r, R_PAD=max(16, triton.next_power_of_2(r)), F32_DOT=f32_dot)


def _operands(z: Tensor, x_dbl: Tensor, dt_weight: Tensor, dt_bias: Tensor, A: Tensor, D: Tensor) -> tuple:
    """The core's inputs as both kernels read them: contiguous, the Δ weights in ``x_dbl``'s dtype, the rest float32."""
    return (
        z.contiguous(), x_dbl.contiguous(), dt_weight.to(x_dbl.dtype).contiguous(), dt_bias.float().contiguous(),
        A.float().contiguous(), D.float().contiguous(),
    )  # fmt: skip


def _num_tiles(length: int) -> int:
    return (length + _BLOCK_L - 1) // _BLOCK_L


@functools.lru_cache(maxsize=16)
def _token_order(height: int, width: int, device: torch.device) -> Tensor:
    """The cross-scan's traversals as the kernels read them: ``(4, h·w)`` int32, made once per map size and device.

    A table read per tile costs the kernels less than the integer divisions that compute a column-major position.
    """
    return _traversals(height, width, device).to(torch.int32)


def _walk(height: int, width: int, device: torch.device) -> tuple[Tensor, dict]:
    """The token-order table and the ``EVEN_L`` constexpr (the tiles fill the sequence exactly) for a map."""
    return _token_order(height, width, device), dict(EVEN_L=height * width % _BLOCK_L == 0)


@torch.library.custom_op("vmix::ss2d_core_fwd", mutates_args=())
def _core_fwd(
    z: Tensor, x_dbl: Tensor, dt_weight: Tensor, dt_bias: Tensor, A: Tensor, D: Tensor, save_states: bool
) -> tuple[Tensor, Tensor]:
    b, height, width, e = z.shape
    length = height * width
    out = torch.zeros(b, height, width, e, device=z.device, dtype=torch.float32)
    states = torch.empty(b, 4, _num_tiles(length) if save_states else 0, e, device=z.device, dtype=torch.float32)
    order, even = _walk(height, width, z.device)
    args = (
        *_operands(z, x_dbl, dt_weight, dt_bias, A, D), out, states if save_states else out,
        order, b, length, e, _num_tiles(length),
    )  # fmt: skip
    # Without SAVE_STATES nothing is written to the state pointer; it gets `out` because an empty tensor's null
    # pointer would fail Triton's check of its arguments at launch.
    meta = dict(_dot_meta(x_dbl, dt_weight.shape[2]), **even, N=A.shape[1], SAVE_STATES=save_states)
    _launch(_fwd_tuned, _fwd_kernel, (4, b), e, args, meta)
    return out, states


@_core_fwd.register_fake
def _(z, x_dbl, dt_weight, dt_bias, A, D, save_states):
    b, height, width, e = z.shape
    tiles = _num_tiles(height * width) if save_states else 0
    return z.new_empty(z.shape, dtype=torch.float32), z.new_empty(b, 4, tiles, e, dtype=torch.float32)


@torch.library.custom_op("vmix::ss2d_core_bwd", mutates_args=())
def _core_bwd(
    dout: Tensor, z: Tensor, x_dbl: Tensor, dt_weight: Tensor, dt_bias: Tensor, A: Tensor, D: Tensor, states: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    b, height, width, e = z.shape
    length, r = height * width, dt_weight.shape[2]
    f32 = dict(device=z.device, dtype=torch.float32)
    dz = torch.zeros(b, height, width, e, **f32)
    dx_dbl = torch.zeros(x_dbl.shape, **f32)
    dw = torch.empty(b, 4, e, r, **f32)
    dbias, dA, dD = (torch.empty(b, 4, e, **f32) for _ in range(3))
    order, even = _walk(height, width, z.device)
    args = (
        *_operands(z, x_dbl, dt_weight, dt_bias, A, D), dout.float().contiguous(), states,
        dz, dx_dbl, dw, dbias, dA, dD, order, b, length, e, _num_tiles(length),
    )  # fmt: skip
    _launch(_bwd_tuned, _bwd_kernel, (4, b), e, args, dict(_dot_meta(x_dbl, r), **even))
    return (
        dz.to(z.dtype),
        dx_dbl.to(x_dbl.dtype),
        dw.sum(0).to(dt_weight.dtype),
        dbias.sum(0).to(dt_bias.dtype),
        dA.sum(0).reshape(A.shape).to(A.dtype),
        dD.sum(0).reshape(D.shape).to(D.dtype),
    )


@_core_bwd.register_fake
def _(dout, z, x_dbl, dt_weight, dt_bias, A, D, states):
    return tuple(t.new_empty(t.shape) for t in (z, x_dbl, dt_weight, dt_bias, A, D))


def _setup_context(ctx, inputs, output):
    z, x_dbl, dt_weight, dt_bias, A, D, _ = inputs
    ctx.save_for_backward(z, x_dbl, dt_weight, dt_bias, A, D, output[1])


def _backward(ctx, dout, _dstates):
    z, x_dbl, dt_weight, dt_bias, A, D, states = ctx.saved_tensors
    return (*_core_bwd(dout, z, x_dbl, dt_weight, dt_bias, A, D, states), None)


_core_fwd.register_autograd(_backward, setup_context=_setup_context)


@shapecheck
def ss2d_core_fused(
    z: Float[Tensor, "b h w e"],
    x_dbl: Float[Tensor, "b 4 j l"],
    dt_weight: Float[Tensor, "4 e r"],
    dt_bias: Float[Tensor, "4 e"],
    A: Float[Tensor, "ke n"],
    D: Float[Tensor, " ke"],
    *,
    scan_impl: str = "auto",
) -> Float[Tensor, "b h w e"]:
    """SS2D's core in Triton kernels, forward and backward (same meaning as the reference form).

    For float32, float16 or bfloat16 inputs on a GPU; arithmetic, state and result are float32, gradients come back
    in their inputs' dtypes. Gradients need d_state 1 (VMamba's setting); inference takes any d_state.

    Args:
        z: the map after SS2D's convolution and SiLU, ``(batch, h, w, E)``.
        x_dbl: ``dt_low``, ``B``, ``C`` per direction in traversal order, ``(batch, 4, R + 2N, h·w)``.
        dt_weight: rank-R map from ``dt_low`` to Δ per direction, ``(4, E, R)``.
        dt_bias: Δ bias per direction and channel, ``(4, E)``.
        A: state matrix per (direction, channel), ``(4·E, N)``.
        D: skip per (direction, channel), ``(4·E,)``.
        scan_impl: unused (the kernel is its own scan); accepted so every form has one signature.

    Returns:
        ``(batch, h, w, E)``, float32.

    Raises:
        ValueError: for mismatched shapes, float64 inputs, tensors off the GPU, or gradients with d_state above 1
            (use the composed form for those).

    Example:
        >>> # needs a GPU (or TRITON_INTERPRET=1 on the CPU)
        >>> z, x_dbl = torch.randn(2, 3, 5, 8, device="cuda"), torch.randn(2, 4, 4, 15, device="cuda")  # doctest: +SKIP
        >>> w, b = torch.randn(4, 8, 2, device="cuda"), torch.randn(4, 8, device="cuda")  # doctest: +SKIP
        >>> A, D = -torch.rand(32, 1, device="cuda"), torch.ones(32, device="cuda")  # doctest: +SKIP
        >>> ss2d_core_fused(z, x_dbl, w, b, A, D).shape  # doctest: +SKIP
        torch.Size([2, 3, 5, 8])
    """
    check_core_inputs(z, x_dbl, dt_weight, dt_bias, A, D)
    inputs = (z, x_dbl, dt_weight, dt_bias, A, D)
    if any(t.dtype == torch.float64 for t in inputs):
        raise ValueError("the fused SS2D core computes in float32; for float64 inputs use impl='composed'")
    save_states = torch.is_grad_enabled() and any(t.requires_grad for t in inputs)
    if save_states and A.shape[1] != 1:
        raise ValueError(
            f"the fused SS2D core's backward takes d_state 1; got d_state {A.shape[1]} (use impl='composed' to train)"
        )
    if not z.is_cuda and not triton.knobs.runtime.interpret:
        raise ValueError(f"the fused SS2D core runs on a GPU; got {z.device.type} tensors (use impl='composed')")
    return _core_fwd(*inputs, save_states)[0]
