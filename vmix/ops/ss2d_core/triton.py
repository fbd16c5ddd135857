"""SS2D's core as one Triton kernel (forward only): no cross-scan copies, no Δ tensor, no per-direction output.

Each program owns a block of channels of one image and one of the four traversals of its map, reading ``u``
straight from the channels-last map in that direction's token order, computing ``Δ = softplus(dt_weight · dt_low +
dt_bias)`` on chip (one small matrix product per tile, the weights loaded once per program) from the ``R`` numbers
per token and direction, and adding its output into one float32 map with atomic adds, so the ``4·E``-channel
tensors the composed form writes and reads (the cross-scan's copies, Δ, the scan's output) never exist.
``bench/NOTES_ss2d_core.md`` counts the bytes this saves. The scan inside a tile is an associative scan over
``(a, b)`` pairs, with the carried state folded into the tile's first element, as in the selective scan's kernel.

The four directions' sums arrive in whatever order the programs run, so results can differ from run to run in the
last bits of float32 (:func:`~vmix.ops.ss2d_core.ss2d_core` does not pick this form when
``torch.use_deterministic_algorithms`` is on). Forward only, for inference: a call that needs gradients raises.
Registered as a ``torch.library`` op with a fake implementation, so ``torch.compile(fullgraph=True)`` traces
through it. Importing this module without triton raises ``ImportError``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops.ss2d_core.composed import check_core_inputs

__all__ = ["ss2d_core_fused"]

_LOG2E = tl.constexpr(1.4426950408889634)
# Launch shapes tried once per (length, channels, dt rank) on a GPU: more tokens per tile shortens each program's
# serial walk, fewer channels per program gives more programs to hide it with.
_CONFIGS = [
    triton.Config({"BLOCK_L": block_l, "BLOCK_E": block_e}, num_warps=warps)
    for block_l, block_e, warps in [(16, 32, 4), (16, 64, 4), (32, 32, 4), (32, 64, 8), (64, 32, 8), (16, 16, 2)]
]


@triton.jit
def _combine(a_left, b_left, a_right, b_right):
    return a_left * a_right, a_right * b_left + b_right


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(x)))  # torch's threshold: x itself above 20


@triton.jit
def _fwd_kernel(
    z_ptr, xdbl_ptr, w_ptr, bias_ptr, A_ptr, D_ptr, out_ptr,
    batch, height, width, length, channels,
    R: tl.constexpr, R_PAD: tl.constexpr, N: tl.constexpr, F32_DOT: tl.constexpr,
    BLOCK_L: tl.constexpr, BLOCK_E: tl.constexpr,
):  # fmt: skip
    pid_e = tl.program_id(0)
    k = tl.program_id(1)  # 0 row-major, 1 column-major, 2 and 3 the same reversed
    pid_b = tl.program_id(2).to(tl.int64)
    offs_e = pid_e * BLOCK_E + tl.arange(0, BLOCK_E)
    mask_e = offs_e < channels
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
    for n in tl.static_range(N):
        A2 = tl.load(A_ptr + kc * N + n, mask=mask_e, other=0.0) * _LOG2E
        h = tl.zeros((BLOCK_E,), tl.float32)
        for start in tl.range(0, length, BLOCK_L):
            t = start + steps
            mask_t = t < length
            mask = mask_t[:, None] & mask_e[None, :]
            s = tl.where(k >= 2, length - 1 - t, t)
            pos = tl.where(k % 2 == 1, (s % height) * width + s // height, s)  # map position of step t
            cells = pos[:, None] * channels + offs_e[None, :]
            u = tl.load(z_map + cells, mask=mask, other=0.0).to(tl.float32)
            low = tl.load(
                seq + ranks[None, :] * length + t[:, None], mask=mask_t[:, None] & (ranks[None, :] < R), other=0.0
            )
            if F32_DOT:  # noqa: SIM108 (float32 inputs: full precision, not TF32)
                dt = tl.dot(low.to(tl.float32), w.to(tl.float32), input_precision="ieee")
            else:  # bf16 / fp16 operands, float32 sums
                dt = tl.dot(low, w)
            delta = tl.where(mask, _softplus(dt + bias[None, :]), 0.0)  # past the end: decay 1, no input
            Bv = tl.load(seq + (R + n) * length + t, mask=mask_t, other=0.0).to(tl.float32)
            Cv = tl.load(seq + (R + N + n) * length + t, mask=mask_t, other=0.0).to(tl.float32)
            a = tl.exp2(delta * A2[None, :])
            b = delta * Bv[:, None] * u
            b = tl.where(steps[:, None] == 0, b + a * h[None, :], b)
            _, hs = tl.associative_scan((a, b), axis=0, combine_fn=_combine)
            y = Cv[:, None] * hs
            if n == 0:
                y += Dv[None, :] * u
            tl.atomic_add(out_map + cells, y, mask=mask, sem="relaxed")
            h = tl.sum(tl.where(steps[:, None] == BLOCK_L - 1, hs, 0.0), axis=0)


# The batch is in the key because it sets how many programs share the GPU, and so which shape hides latency best.
_fwd_tuned = triton.autotune(_CONFIGS, key=["batch", "length", "channels", "R"], reset_to_zero=["out_ptr"])(_fwd_kernel)


@torch.library.custom_op("vmix::ss2d_core_fwd", mutates_args=())
def _core_fwd(z: Tensor, x_dbl: Tensor, dt_weight: Tensor, dt_bias: Tensor, A: Tensor, D: Tensor) -> Tensor:
    b, height, width, e = z.shape
    r = dt_weight.shape[2]
    out = torch.zeros(b, height, width, e, device=z.device, dtype=torch.float32)
    args = (
        z.contiguous(), x_dbl.contiguous(), dt_weight.to(x_dbl.dtype).contiguous(), dt_bias.float().contiguous(),
        A.float().contiguous(), D.float().contiguous(), out, b, height, width, height * width, e,
    )  # fmt: skip
    # Δ's projection as composed runs it: in x_dbl's dtype with a float32 sum (bf16 tensor cores under autocast).
    # Triton's CPU interpreter gets 16-bit products wrong; there the operands, exact in float32, are widened.
    interpret = triton.knobs.runtime.interpret
    f32_dot = x_dbl.dtype == torch.float32 or interpret
    meta = dict(R=r, R_PAD=max(16, triton.next_power_of_2(r)), N=A.shape[1], F32_DOT=f32_dot)
    if interpret:  # nothing worth tuning on
        _fwd_kernel[(triton.cdiv(e, 32), 4, b)](*args, **meta, BLOCK_L=16, BLOCK_E=32)
    else:
        _fwd_tuned[lambda cfg: (triton.cdiv(e, cfg["BLOCK_E"]), 4, b)](*args, **meta)
    return out


@_core_fwd.register_fake
def _(z, x_dbl, dt_weight, dt_bias, A, D):
    return z.new_empty(z.shape, dtype=torch.float32)


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
    """SS2D's core in one Triton kernel, forward only (same meaning as the reference form).

    For float32, float16 or bfloat16 inputs on a GPU; arithmetic, state and result are float32.

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
        ValueError: for mismatched shapes, float64 inputs, or a call that needs gradients (use the composed form).

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
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        raise ValueError("the fused SS2D core is forward-only; for training use impl='composed'")
    return _core_fwd(*inputs)
