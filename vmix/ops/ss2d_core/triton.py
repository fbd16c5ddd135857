"""SS2D's core as one Triton kernel (forward only): no cross-scan copies, no Δ tensor, no per-direction output.

Each program owns a block of channels of one image and walks the four traversals of its map one after the other,
reading ``u`` straight from the channels-last map through each direction's token order, computing
``Δ = softplus(dt_weight · dt_low + dt_bias)`` in registers from the ``R`` numbers per token and direction, and
adding its output into one float32 map, so the ``4·E``-channel tensors the composed form writes and reads (the
cross-scan's copies, Δ, the scan's output) never exist. ``bench/NOTES_ss2d_core.md`` counts the bytes this saves.
The scan inside a tile of 16 tokens is an associative scan over ``(a, b)`` pairs, with the carried state folded
into the tile's first element, as in the selective scan's kernel.

Forward only, for inference: a call that needs gradients raises. Registered as a ``torch.library`` op with a fake
implementation, so ``torch.compile(fullgraph=True)`` traces through it. Importing this module without triton raises
``ImportError``.
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
_BLOCK_L = 16  # tokens per tile, as in the selective scan's kernel
_BLOCK_E = 32  # channels per program: 64 contiguous bytes of a bf16 map per token


@triton.jit
def _combine(a_left, b_left, a_right, b_right):
    return a_left * a_right, a_right * b_left + b_right


@triton.jit
def _softplus(x):
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(x)))  # torch's threshold: x itself above 20


@triton.jit
def _position(t, k: tl.constexpr, height, width, length):
    """Row-major map position of step ``t`` of direction ``k``: 0 row-major, 1 column-major, 2 and 3 reversed."""
    if k >= 2:
        t = length - 1 - t
    if k % 2 == 1:
        t = (t % height) * width + t // height
    return t


@triton.jit
def _fwd_kernel(
    z_ptr, xdbl_ptr, w_ptr, bias_ptr, A_ptr, D_ptr, out_ptr,
    height, width, length, channels, num_tiles,
    R: tl.constexpr, N: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_L: tl.constexpr,
):  # fmt: skip
    pid_e = tl.program_id(0)
    pid_b = tl.program_id(1).to(tl.int64)
    offs_e = pid_e * BLOCK_E + tl.arange(0, BLOCK_E)
    mask_e = offs_e < channels
    steps = tl.arange(0, BLOCK_L)
    J: tl.constexpr = R + 2 * N
    z_map = z_ptr + pid_b * length * channels
    out_map = out_ptr + pid_b * length * channels
    for n in tl.static_range(N):
        for k in tl.static_range(4):
            kc = k * channels + offs_e  # (direction, channel) index into the 4·E-long parameters
            A2 = tl.load(A_ptr + kc * N + n, mask=mask_e, other=0.0) * _LOG2E
            bias = tl.load(bias_ptr + kc, mask=mask_e, other=0.0)
            Dv = tl.load(D_ptr + kc, mask=mask_e, other=0.0)
            seq = xdbl_ptr + (pid_b * 4 + k) * J * length
            h = tl.zeros((BLOCK_E,), tl.float32)
            for tile in tl.range(num_tiles):
                t = tile * BLOCK_L + steps
                mask_t = t < length
                mask = mask_t[:, None] & mask_e[None, :]
                cells = _position(t, k, height, width, length)[:, None] * channels + offs_e[None, :]
                u = tl.load(z_map + cells, mask=mask, other=0.0).to(tl.float32)
                dt = tl.zeros((BLOCK_L, BLOCK_E), tl.float32) + bias[None, :]
                for r in tl.static_range(R):
                    low = tl.load(seq + r * length + t, mask=mask_t, other=0.0).to(tl.float32)
                    w_r = tl.load(w_ptr + kc * R + r, mask=mask_e, other=0.0).to(tl.float32)
                    dt += low[:, None] * w_r[None, :]
                delta = tl.where(mask, _softplus(dt), 0.0)  # past the end: decay 1, no input
                Bv = tl.load(seq + (R + n) * length + t, mask=mask_t, other=0.0).to(tl.float32)
                Cv = tl.load(seq + (R + N + n) * length + t, mask=mask_t, other=0.0).to(tl.float32)
                a = tl.exp2(delta * A2[None, :])
                b = delta * Bv[:, None] * u
                b = tl.where(steps[:, None] == 0, b + a * h[None, :], b)
                _, hs = tl.associative_scan((a, b), axis=0, combine_fn=_combine)
                y = Cv[:, None] * hs
                if n == 0:
                    y += Dv[None, :] * u
                if n == 0 and k == 0:
                    tl.store(out_map + cells, y, mask=mask)
                else:
                    tl.store(out_map + cells, tl.load(out_map + cells, mask=mask, other=0.0) + y, mask=mask)
                h = tl.sum(tl.where(steps[:, None] == BLOCK_L - 1, hs, 0.0), axis=0)
            # The next pass adds into cells this one wrote from other threads of the program.
            tl.debug_barrier()


@torch.library.custom_op("vmix::ss2d_core_fwd", mutates_args=())
def _core_fwd(z: Tensor, x_dbl: Tensor, dt_weight: Tensor, dt_bias: Tensor, A: Tensor, D: Tensor) -> Tensor:
    b, height, width, e = z.shape
    length = height * width
    out = torch.empty(b, height, width, e, device=z.device, dtype=torch.float32)
    grid = (triton.cdiv(e, _BLOCK_E), b)
    _fwd_kernel[grid](
        z.contiguous(), x_dbl.contiguous(), dt_weight.contiguous(), dt_bias.float().contiguous(),
        A.float().contiguous(), D.float().contiguous(), out,
        height, width, length, e, triton.cdiv(length, _BLOCK_L),
        R=dt_weight.shape[2], N=A.shape[1], BLOCK_E=_BLOCK_E, BLOCK_L=_BLOCK_L,
    )  # fmt: skip
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
