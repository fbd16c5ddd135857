"""The selective scan as Triton GPU kernels: one sequential pass over the sequence forward, one in reverse backward.

Each program owns a block of channels of one batch row, all in the same group (so they share ``B`` and ``C``), and
walks the sequence in tiles of 16 tokens with the float32 state in registers. Inside a tile the recurrence
``h_l = a_l h_{l-1} + b_l`` is an associative scan over pairs ``(a, b)``; the state entering the tile is folded into
its first element, so the tile's last state is the carry into the next one. Every input is read once and ``y`` is
written once. The forward also stores the state at the end of every tile (``batch·dim·d_state·length/16`` floats,
an eighth of ``u``'s bytes), which is all the backward needs besides the inputs.

The backward walks the tiles in reverse. It recomputes the tile's states from the stored state that enters it, then
runs the adjoint recurrence ``g_l = C_l dy_l + a_{l+1} g_{l+1}`` (``g`` is ``∂loss/∂h_l``) as a scan of the flipped
tile. That recurrence reads ``a`` one token ahead, which a tile cannot shift in registers; the scan carries the
segment's first decay as a third component instead, so no token is loaded twice (see :func:`_adjoint_combine`).
With ``g`` and the states every gradient is pointwise, except the sums: ``dB`` and ``dC`` over the channels of a
group (summed inside the program, then over the program's channel blocks by torch), ``dA``, ``dD`` and
``ddelta_bias`` over the batch and the sequence (summed inside the program over the sequence, then over the batch by
torch). ``a_l h_{l-1}`` is taken as ``h_l - b_l``, as mamba_ssm's kernel does, so no earlier state needs to be shifted
in either.

Both passes are ``torch.library`` custom ops with fake (meta) implementations and a registered autograd formula, so
``torch.compile(fullgraph=True)`` traces through them without a graph break. Importing this module without triton
raises ``ImportError``, which ``selective_scan(impl="auto")`` treats as "not available".
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops.selective_scan.reference import check_inputs

__all__ = ["ScanConfig", "scan_config", "selective_scan_triton"]

_LOG2E = tl.constexpr(1.4426950408889634)
_LN2 = tl.constexpr(0.6931471805599453)
# Tokens per tile. Triton lays a bf16 tile out as 8 consecutive tokens per thread (one 16-byte load) and 2 threads
# along the sequence: each row's load is one full 32-byte sector, the scans need one shuffle step, and the flips of
# the backward's adjoint scan are mostly register renames. It is also the spacing of the states the forward keeps,
# 4 bytes per 16 tokens of a channel: 3 % of the forward's traffic.
_BLOCK_L = 16
# Channels x states x tokens of a forward tile: 16 values per thread at 4 warps, enough loads in flight per SM to
# cover DRAM latency; the backward takes half, or its per-token temporaries spill.
_TILE = 2048


@triton.jit
def _log2(x, FAST: tl.constexpr):
    if FAST:  # the special-function unit: one instruction, absolute error below 2^-22 on [0.5, 2]
        return tl.inline_asm_elementwise("lg2.approx.f32 $0, $1;", "=r,r", [x], dtype=tl.float32, is_pure=True, pack=1)
    else:  # the interpreter runs no PTX
        return tl.log2(x)


@triton.jit
def _softplus(x, FAST: tl.constexpr):
    """``(softplus(x), sigmoid(x))`` with torch's threshold 20.

    ``log1p(z)``, ``z = e^x``: below ``z = 1/8`` its series to ``z^6`` (relative error under ``z^6/7 < 6e-7``), where
    ``log(1 + z)`` would lose the digits of a small Δ to the rounding of ``1 + z``; above it ``log2(1 + z)`` on the
    special-function unit (relative error under ``2^-22 / log2(9/8) < 2e-6``). libdevice's accurate ``logf`` would
    cost about 35 instructions per token, as much as the rest of the forward.
    """
    z = tl.exp2(x * _LOG2E)
    w = 1.0 + z
    series = z * (1.0 + z * (-1.0 / 2 + z * (1.0 / 3 + z * (-1.0 / 4 + z * (1.0 / 5 + z * (-1.0 / 6))))))
    log1p = tl.where(z < 0.125, series, _log2(w, FAST) * _LN2)
    big = x > 20.0
    return tl.where(big, x, log1p), tl.where(big, 1.0, z / w)


@triton.jit
def _affine_combine(a_left, b_left, a_right, b_right):
    """Compose ``h -> a h + b`` maps in token order: the state after both segments."""
    return a_left * a_right, b_left * a_right + b_right


@triton.jit
def _adjoint_combine(f_later, p_later, s_later, f_earlier, p_earlier, s_earlier):
    """Compose segments of the adjoint recurrence ``g_l = c_l + a_{l+1} g_{l+1}`` (scanned in reverse).

    A segment ``[i, j]`` is ``(f, p, s)``: ``g_i = s + p·a_{j+1}·g_{j+1}``, with ``f = a_i`` its own first decay,
    which the segment before it needs. Joining ``[i, j]`` with ``[j+1, k]`` gives
    ``(f_i, p_ij·f_{j+1}·p_{j+1,k}, s_ij + p_ij·f_{j+1}·s_{j+1,k})``; a token starts as ``(a_l, 1, c_l)``.
    """
    q = p_earlier * f_later
    return f_earlier, q * p_later, s_earlier + q * s_later


@triton.jit
def _sum_states(x, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
    """Sum a tile of (channel, state) rows over the states: ``(BLOCK_D·BLOCK_N, L) -> (BLOCK_D, L)``."""
    if BLOCK_N == 1:
        return x
    else:
        return tl.sum(tl.reshape(x, (BLOCK_D, BLOCK_N, x.shape[1])), axis=1)


@triton.jit
def _sum_channels(x, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
    """Sum a tile of (channel, state) rows over the channels: ``(BLOCK_D·BLOCK_N, L) -> (BLOCK_N, L)``."""
    if BLOCK_N == 1:
        return tl.sum(x, axis=0)[None, :]
    else:
        return tl.sum(tl.reshape(x, (BLOCK_D, BLOCK_N, x.shape[1])), axis=0)


@triton.jit
def _load_tile(
    u_rows, dt_rows, B_rows, C_rows, A2, bias, offs_l, mask_l, mask_n, s_ul, s_dl, s_Bl, s_Cl,
    HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, FAST: tl.constexpr,
):  # fmt: skip
    """One tile of (channel, state) rows: the inputs as float32 and the pointwise terms of the recurrence.

    Every tensor is ``(BLOCK_D·BLOCK_N, BLOCK_L)`` in one register layout, ``B`` and ``C`` broadcast over the
    channels by the addresses (the repeated loads hit L1) rather than by a layout change. Returns ``u``, ``Δ``,
    ``dΔ/d(delta)``, ``B``, ``C``, ``a = exp(Δ A)`` and ``B·u``. Tokens past the end get ``Δ = 0``, hence ``a = 1`` and
    ``b = 0``: the scan carries the last state through them unchanged.
    """
    mask = mask_l[None, :]
    u = tl.load(u_rows + offs_l[None, :] * s_ul, mask=mask, other=0.0).to(tl.float32)
    x = tl.load(dt_rows + offs_l[None, :] * s_dl, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        x = x + bias[:, None]
    if SOFTPLUS:
        dt, dsp = _softplus(x, FAST)
    else:
        dt, dsp = x, tl.full(x.shape, 1.0, tl.float32)
    dt = tl.where(mask, dt, 0.0)
    mask = mask_n[:, None] & mask
    Bv = tl.load(B_rows + offs_l[None, :] * s_Bl, mask=mask, other=0.0).to(tl.float32)
    Cv = tl.load(C_rows + offs_l[None, :] * s_Cl, mask=mask, other=0.0).to(tl.float32)
    a = tl.exp2(dt * A2[:, None])
    return u, dt, dsp, Bv, Cv, a, Bv * u


@triton.jit
def _fwd_kernel(
    u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, y_ptr, state_ptr,
    dim, length, d_state, num_dblocks_per_group, num_tiles,
    s_ub, s_ud, s_ul, s_db, s_dd, s_dl, s_Bb, s_Bg, s_Bn, s_Bl, s_Cb, s_Cg, s_Cn, s_Cl,
    HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr, NUM_STAGES: tl.constexpr,
    FAST: tl.constexpr,
):  # fmt: skip
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1).to(tl.int64)
    group = pid_d // num_dblocks_per_group
    # The tile's rows are (channel, state) pairs, state fastest.
    rows = tl.arange(0, BLOCK_D * BLOCK_N)
    offs_d = pid_d * BLOCK_D + rows // BLOCK_N
    offs_n = rows % BLOCK_N
    mask_n = offs_n < d_state
    cols = tl.arange(0, BLOCK_L)
    # Padded states get A = 0 and B = C = 0: decay 1, no input, no output.
    A2 = tl.load(A_ptr + offs_d * d_state + offs_n, mask=mask_n, other=0.0) * _LOG2E
    bias = tl.load(bias_ptr + offs_d).to(tl.float32) if HAS_BIAS else None
    Dv = tl.where(offs_n == 0, tl.load(D_ptr + offs_d).to(tl.float32), 0.0) if HAS_D else None
    u_rows = u_ptr + pid_b * s_ub + offs_d[:, None] * s_ud
    dt_rows = dt_ptr + pid_b * s_db + offs_d[:, None] * s_dd
    B_rows = B_ptr + pid_b * s_Bb + group * s_Bg + offs_n[:, None] * s_Bn
    C_rows = C_ptr + pid_b * s_Cb + group * s_Cg + offs_n[:, None] * s_Cn
    y_rows = y_ptr + (pid_b * dim + pid_d * BLOCK_D + tl.arange(0, BLOCK_D)[:, None]) * length
    state_ptr += pid_b * num_tiles * dim * d_state + offs_d * d_state + offs_n
    h = tl.zeros((BLOCK_D * BLOCK_N,), tl.float32)
    # NUM_STAGES > 1: the next tiles' loads are issued (cp.async) while this tile computes.
    for t in tl.range(num_tiles, num_stages=NUM_STAGES):
        offs_l = t * BLOCK_L + cols
        mask_l = offs_l < length
        u, dt, _, _, Cv, a, bu = _load_tile(
            u_rows, dt_rows, B_rows, C_rows, A2, bias, offs_l, mask_l, mask_n, s_ul, s_dl, s_Bl, s_Cl,
            HAS_BIAS, SOFTPLUS, FAST,
        )  # fmt: skip
        b = dt * bu
        b = tl.where(cols[None, :] == 0, b + a * h[:, None], b)
        _, hs = tl.associative_scan((a, b), axis=1, combine_fn=_affine_combine)
        y = Cv * hs
        if HAS_D:
            y += Dv[:, None] * u  # on the state-0 row only, so the sum over states adds it once
        y = _sum_states(y, BLOCK_D, BLOCK_N)
        tl.store(y_rows + offs_l[None, :], y.to(y_ptr.dtype.element_ty), mask=mask_l[None, :])
        h = tl.sum(tl.where(cols[None, :] == BLOCK_L - 1, hs, 0.0), axis=1)
        tl.store(state_ptr + t * dim * d_state, h, mask=mask_n)


@triton.jit
def _bwd_kernel(
    dy_ptr, u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, state_ptr,
    du_ptr, ddt_ptr, dA_ptr, dB_ptr, dC_ptr, dD_ptr, dbias_ptr,
    dim, length, d_state, num_dblocks_per_group, num_tiles,
    s_ub, s_ud, s_ul, s_db, s_dd, s_dl, s_Bb, s_Bg, s_Bn, s_Bl, s_Cb, s_Cg, s_Cn, s_Cl, s_yb, s_yd, s_yl,
    HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr, NUM_STAGES: tl.constexpr,
    FAST: tl.constexpr,
):  # fmt: skip
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1).to(tl.int64)
    group = pid_d // num_dblocks_per_group
    rows = tl.arange(0, BLOCK_D * BLOCK_N)
    offs_d = pid_d * BLOCK_D + rows // BLOCK_N
    offs_n = rows % BLOCK_N
    mask_n = offs_n < d_state
    chans = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    states = tl.arange(0, BLOCK_N)
    cols = tl.arange(0, BLOCK_L)
    A = tl.load(A_ptr + offs_d * d_state + offs_n, mask=mask_n, other=0.0).to(tl.float32)
    A2 = A * _LOG2E
    bias = tl.load(bias_ptr + offs_d).to(tl.float32) if HAS_BIAS else None
    Dv = tl.where(offs_n == 0, tl.load(D_ptr + offs_d).to(tl.float32), 0.0) if HAS_D else None
    u_rows = u_ptr + pid_b * s_ub + offs_d[:, None] * s_ud
    dt_rows = dt_ptr + pid_b * s_db + offs_d[:, None] * s_dd
    dy_rows = dy_ptr + pid_b * s_yb + offs_d[:, None] * s_yd
    B_rows = B_ptr + pid_b * s_Bb + group * s_Bg + offs_n[:, None] * s_Bn
    C_rows = C_ptr + pid_b * s_Cb + group * s_Cg + offs_n[:, None] * s_Cn
    du_rows = du_ptr + (pid_b * dim + chans[:, None]) * length
    ddt_rows = ddt_ptr + (pid_b * dim + chans[:, None]) * length
    # dB, dC: one partial sum per channel block, (batch, dim / BLOCK_D, d_state, length).
    part_rows = ((pid_b * tl.num_programs(0) + pid_d) * d_state + states[:, None]) * length
    mask_part = (states < d_state)[:, None]
    state_ptr += pid_b * num_tiles * dim * d_state + offs_d * d_state + offs_n
    carry = tl.zeros((BLOCK_D * BLOCK_N,), tl.float32)  # a_{l+1} g_{l+1} at the tile's right edge
    dA = tl.zeros((BLOCK_D * BLOCK_N,), tl.float32)
    dD = tl.zeros((BLOCK_D * BLOCK_N,), tl.float32)
    dbias = tl.zeros((BLOCK_D,), tl.float32)
    for i in tl.range(num_tiles, num_stages=NUM_STAGES):
        t = num_tiles - 1 - i
        offs_l = t * BLOCK_L + cols
        mask_l = offs_l < length
        u, dt, dsp, Bv, Cv, a, bu = _load_tile(
            u_rows, dt_rows, B_rows, C_rows, A2, bias, offs_l, mask_l, mask_n, s_ul, s_dl, s_Bl, s_Cl,
            HAS_BIAS, SOFTPLUS, FAST,
        )  # fmt: skip
        dy = tl.load(dy_rows + offs_l[None, :] * s_yl, mask=mask_l[None, :], other=0.0).to(tl.float32)
        # States of this tile, recomputed from the state that enters it (stored by the forward).
        h0 = tl.load(state_ptr + (t - 1) * dim * d_state, mask=mask_n & (t > 0), other=0.0)
        b = dt * bu
        _, h = tl.associative_scan(
            (a, tl.where(cols[None, :] == 0, b + a * h0[:, None], b)), axis=1, combine_fn=_affine_combine
        )
        # Adjoint: g_l = C_l dy_l + a_{l+1} g_{l+1}, plus what flows in from the tile to the right.
        # A forward scan of the flipped tile: Triton's reverse=True flips every value across all 32 lanes, twice.
        _, p, s = tl.associative_scan(
            (tl.flip(a, 1), tl.full(a.shape, 1.0, tl.float32), tl.flip(Cv * dy, 1)), axis=1, combine_fn=_adjoint_combine
        )
        g = tl.flip(s + p * carry[:, None], 1)
        carry = tl.sum(tl.where(cols[None, :] == 0, a * g, 0.0), axis=1)
        ah = h - b  # a_l h_{l-1}
        gdt = g * dt
        du = gdt * Bv
        if HAS_D:
            du += Dv[:, None] * dy
        du = _sum_states(du, BLOCK_D, BLOCK_N)
        # dΔ through b = Δ B u and through a = exp(Δ A). Past the end g and h still carry values: mask them out.
        ddt = _sum_states(tl.where(mask_l[None, :], g * (bu + A[:, None] * ah) * dsp, 0.0), BLOCK_D, BLOCK_N)
        tl.store(du_rows + offs_l[None, :], du.to(du_ptr.dtype.element_ty), mask=mask_l[None, :])
        tl.store(ddt_rows + offs_l[None, :], ddt.to(ddt_ptr.dtype.element_ty), mask=mask_l[None, :])
        mask = mask_part & mask_l[None, :]
        tl.store(dB_ptr + part_rows + offs_l[None, :], _sum_channels(gdt * u, BLOCK_D, BLOCK_N), mask=mask)
        tl.store(dC_ptr + part_rows + offs_l[None, :], _sum_channels(dy * h, BLOCK_D, BLOCK_N), mask=mask)
        dA += tl.sum(gdt * ah, axis=1)
        dD += tl.sum(dy * u, axis=1)
        dbias += tl.sum(ddt, axis=1)
    # Per-batch partial sums of the parameter gradients, (batch, dim[, d_state]); dD from the state-0 rows.
    tl.store(dA_ptr + pid_b * dim * d_state + offs_d * d_state + offs_n, dA, mask=mask_n)
    tl.store(dD_ptr + pid_b * dim + offs_d, dD, mask=offs_n == 0)
    tl.store(dbias_ptr + pid_b * dim + chans, dbias)


def _next_pow2(n: int) -> int:
    # A loop rather than bit tricks: under torch.compile with dynamic shapes ``n`` is a SymInt.
    p = 1
    while p < n:
        p *= 2
    return p


class ScanConfig(NamedTuple):
    """Launch shape of one kernel: a program holds ``block_d`` channels x ``block_n`` states x ``block_l`` tokens."""

    block_d: int
    block_n: int
    block_l: int
    num_warps: int
    num_stages: int


def scan_config(backward: bool, dim_per_group: int, d_state: int, aligned: bool = True) -> ScanConfig:
    """The launch shape the op uses for the forward or the backward kernel.

    Tiles are ``_BLOCK_L`` tokens long. ``block_d`` is the largest power of two that divides the channels per group
    (a program's channels share ``B`` and ``C``) and keeps the tile within ``_TILE`` values (half that in the
    backward, whose per-token temporaries would otherwise spill). ``aligned`` says whether every row starts on 16
    elements (see :func:`_rows_aligned`); when not (sequences of 49 or 196 tokens), Triton loads one element per
    thread and spreads a tile's tokens over 16 lanes, and the smaller tile, with no loads kept in flight across
    iterations, is what stays within the registers.

    Example:
        >>> scan_config(False, dim_per_group=192, d_state=1)
        ScanConfig(block_d=64, block_n=1, block_l=16, num_warps=4, num_stages=3)
    """
    tile = (_TILE // 2 if backward else _TILE) if aligned else _TILE // 4
    block_n = _next_pow2(d_state)
    block_d = min(dim_per_group & -dim_per_group, max(1, tile // (_BLOCK_L * block_n)))
    return ScanConfig(block_d, block_n, _BLOCK_L, num_warps=4, num_stages=3 if aligned else 1)


def _rows_aligned(*tensors: Tensor) -> bool:
    """Whether Triton can load these tensors' rows in 16-byte vectors: its launcher specialises every pointer on
    16-byte alignment and every stride on divisibility by 16, and only then vectorises."""
    return all(
        t.data_ptr() % 16 == 0 and all(s % 16 == 0 for s, n in zip(t.stride()[:-1], t.shape[:-1], strict=True) if n > 1)
        for t in tensors
    )


def _strides(*tensors: Tensor) -> list[int]:
    return [s for t in tensors for s in t.stride()]


def _launch_fwd(u, delta, A, B, C, D, delta_bias, delta_softplus, y, states, cfg: ScanConfig):
    """Run the forward kernel into ``y`` (``(batch, dim, length)``, contiguous) and ``states``
    (``(batch, tiles, dim, d_state)`` float32); return the compiled kernel (its registers, spills)."""
    batch, dim, length = u.shape
    groups, d_state = B.shape[1], B.shape[2]
    return _fwd_kernel[(dim // cfg.block_d, batch)](
        u, delta, A.float().contiguous(), B, C, D, delta_bias, y, states,
        dim, length, d_state, dim // groups // cfg.block_d, states.shape[1],
        *_strides(u, delta, B, C),
        HAS_D=D is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        BLOCK_D=cfg.block_d, BLOCK_N=cfg.block_n, BLOCK_L=cfg.block_l, NUM_STAGES=cfg.num_stages,
        FAST=not triton.knobs.runtime.interpret, num_warps=cfg.num_warps,
    )  # fmt: skip


def _launch_bwd(
    dy, u, delta, A, B, C, D, delta_bias, states, delta_softplus, du, ddelta, dA, dB, dC, dD, dbias, cfg: ScanConfig
):
    """Run the backward kernel and return it compiled. ``du``, ``ddelta``: contiguous like ``u``; ``dB``, ``dC``:
    float32 partial sums ``(batch, dim // block_d, d_state, length)``; ``dA``: ``(batch, dim, d_state)``; ``dD``,
    ``dbias``: ``(batch, dim)``, float32 partial sums over the batch."""
    batch, dim, length = u.shape
    groups, d_state = B.shape[1], B.shape[2]
    return _bwd_kernel[(dim // cfg.block_d, batch)](
        dy, u, delta, A.float().contiguous(), B, C, D, delta_bias, states,
        du, ddelta, dA, dB, dC, dD, dbias,
        dim, length, d_state, dim // groups // cfg.block_d, states.shape[1],
        *_strides(u, delta, B, C, dy),
        HAS_D=D is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        BLOCK_D=cfg.block_d, BLOCK_N=cfg.block_n, BLOCK_L=cfg.block_l, NUM_STAGES=cfg.num_stages,
        FAST=not triton.knobs.runtime.interpret, num_warps=cfg.num_warps,
    )  # fmt: skip


def _num_tiles(length: int) -> int:
    return (length + _BLOCK_L - 1) // _BLOCK_L


@torch.library.custom_op("vmix::selective_scan_fwd", mutates_args=())
def _scan_fwd(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    delta_bias: Tensor | None,
    delta_softplus: bool,
    out_dtype: torch.dtype,
) -> tuple[Tensor, Tensor]:
    batch, dim, length = u.shape
    cfg = scan_config(False, dim // B.shape[1], B.shape[2], _rows_aligned(u, delta, B, C))
    y = torch.empty(batch, dim, length, device=u.device, dtype=out_dtype)
    states = torch.empty(batch, _num_tiles(length), dim, B.shape[2], device=u.device, dtype=torch.float32)
    _launch_fwd(u, delta, A, B, C, D, delta_bias, delta_softplus, y, states, cfg)
    return y, states


@_scan_fwd.register_fake
def _(u, delta, A, B, C, D, delta_bias, delta_softplus, out_dtype):
    batch, dim, length = u.shape
    states = u.new_empty(batch, _num_tiles(length), dim, B.shape[2], dtype=torch.float32)
    return u.new_empty(batch, dim, length, dtype=out_dtype), states


@torch.library.custom_op("vmix::selective_scan_bwd", mutates_args=())
def _scan_bwd(
    dy: Tensor,
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    delta_bias: Tensor | None,
    states: Tensor,
    delta_softplus: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    batch, dim, length = u.shape
    groups, d_state = B.shape[1], B.shape[2]
    cfg = scan_config(True, dim // groups, d_state, _rows_aligned(dy, u, delta, B, C))
    num_dblocks = dim // cfg.block_d
    f32 = dict(device=u.device, dtype=torch.float32)
    du = torch.empty_like(u, memory_format=torch.contiguous_format)
    ddelta = torch.empty_like(delta, memory_format=torch.contiguous_format)
    dB = torch.empty(batch, num_dblocks, d_state, length, **f32)
    dC = torch.empty(batch, num_dblocks, d_state, length, **f32)
    dA = torch.empty(batch, dim, d_state, **f32)
    dD = torch.empty(batch, dim, **f32)
    dbias = torch.empty(batch, dim, **f32)
    _launch_bwd(dy, u, delta, A, B, C, D, delta_bias, states, delta_softplus, du, ddelta, dA, dB, dC, dD, dbias, cfg)
    # Sum the partials: dB, dC over a group's channel blocks; dA, dD, ddelta_bias over the batch.
    dB = dB.view(batch, groups, num_dblocks // groups, d_state, length).sum(2).to(B.dtype)
    dC = dC.view(batch, groups, num_dblocks // groups, d_state, length).sum(2).to(C.dtype)
    return du, ddelta, dA.sum(0).to(A.dtype), dB, dC, dD.sum(0), dbias.sum(0)


@_scan_bwd.register_fake
def _(dy, u, delta, A, B, C, D, delta_bias, states, delta_softplus):
    dim = u.shape[1]
    return (
        torch.empty_like(u, memory_format=torch.contiguous_format),
        torch.empty_like(delta, memory_format=torch.contiguous_format),
        A.new_empty(A.shape),
        B.new_empty(B.shape),
        C.new_empty(C.shape),
        u.new_empty(dim, dtype=torch.float32),
        u.new_empty(dim, dtype=torch.float32),
    )


def _setup_context(ctx, inputs, output):
    u, delta, A, B, C, D, delta_bias, delta_softplus, _ = inputs
    ctx.save_for_backward(u, delta, A, B, C, D, delta_bias, output[1])
    ctx.delta_softplus = delta_softplus


def _backward(ctx, dy, _dstates):
    u, delta, A, B, C, D, delta_bias, states = ctx.saved_tensors
    du, ddelta, dA, dB, dC, dD, dbias = _scan_bwd(dy, u, delta, A, B, C, D, delta_bias, states, ctx.delta_softplus)
    dD = dD.to(D.dtype) if D is not None else None
    dbias = dbias.to(delta_bias.dtype) if delta_bias is not None else None
    return du, ddelta, dA, dB, dC, dD, dbias, None, None


_scan_fwd.register_autograd(_backward, setup_context=_setup_context)


@shapecheck
def selective_scan_triton(
    u: Float[Tensor, "b d l"],
    delta: Float[Tensor, "b d l"],
    A: Float[Tensor, "d n"],
    B: Float[Tensor, "b g n l"],
    C: Float[Tensor, "b g n l"],
    D: Float[Tensor, " d"] | None = None,
    delta_bias: Float[Tensor, " d"] | None = None,
    delta_softplus: bool = False,
    *,
    chunk_size: int | None = None,
    out_dtype: torch.dtype | None = None,
) -> Float[Tensor, "b d l"]:
    """Selective scan by the Triton kernels: a sequential float32 scan per channel, forward and backward.

    Same meaning and signature as :func:`~vmix.ops.selective_scan.selective_scan_reference`, for float32, float16
    or bfloat16 inputs (any strides) on a GPU. Arithmetic and state are float32; ``du``, ``ddelta``, ``dB``, ``dC``
    come back in their inputs' dtypes. ``A``, ``D`` and ``delta_bias`` are read as float32.

    Args:
        u: input sequence, ``(batch, dim, length)``.
        delta: step sizes before bias and softplus, ``(batch, dim, length)``.
        A: state matrix (diagonal per channel), ``(dim, d_state)``.
        B: input projection per group and token, ``(batch, groups, d_state, length)``.
        C: output projection per group and token, ``(batch, groups, d_state, length)``.
        D: skip connection per channel, ``(dim,)``, or ``None``.
        delta_bias: added to ``delta`` per channel before the softplus, ``(dim,)``, or ``None``.
        delta_softplus: apply ``softplus`` (threshold 20) to ``delta + delta_bias``.
        chunk_size: unused: the kernels' tile length is fixed by their register layout; accepted so every form
            has one signature.
        out_dtype: dtype of the result; ``None`` gives ``u.dtype``.

    Returns:
        ``y``, ``(batch, dim, length)``.

    Raises:
        ValueError: for shapes outside mamba_ssm's layout, or float64 inputs (use ``impl="chunked"``).

    Example:
        >>> # needs a GPU (or TRITON_INTERPRET=1 on the CPU)
        >>> u, delta = torch.randn(2, 8, 100, device="cuda"), torch.randn(2, 8, 100, device="cuda")  # doctest: +SKIP
        >>> A = -torch.rand(8, 1, device="cuda")  # doctest: +SKIP
        >>> B, C = torch.randn(2, 4, 1, 100, device="cuda"), torch.randn(2, 4, 1, 100, device="cuda")  # doctest: +SKIP
        >>> selective_scan_triton(u, delta, A, B, C, delta_softplus=True).shape  # doctest: +SKIP
        torch.Size([2, 8, 100])
    """
    check_inputs(u, delta, A, B, C, D, delta_bias)
    if any(t is not None and t.dtype == torch.float64 for t in (u, delta, A, B, C, D, delta_bias)):
        raise ValueError("the Triton selective scan computes in float32; for float64 inputs use impl='chunked'")
    out_dtype = out_dtype or u.dtype
    return _scan_fwd(u, delta, A, B, C, D, delta_bias, delta_softplus, out_dtype)[0]
