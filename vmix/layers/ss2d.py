"""SS2D, VMamba's 2D selective-scan token mixer (the ``v05_noz`` variant of the released classification models)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from vmix._shapecheck import shapecheck
from vmix.ops.cross_scan import cross_scan
from vmix.ops.dwconv import dwconv
from vmix.ops.selective_scan import IMPLS as _SCAN_IMPLS
from vmix.ops.ss2d_core import ss2d_core

__all__ = ["SS2D"]

# Values of SS2D(scan_impl=): the selective scan's forms, and "fused" for the fused SS2D core.
_IMPLS = (*_SCAN_IMPLS, "fused")
_DIRECTIONS = 4


def _at_least_float32(t: Tensor) -> Tensor:
    return t.to(torch.promote_types(t.dtype, torch.float32))


class SS2D(nn.Module):
    """VMamba's SS2D: selective scans along four traversals of the map, summed back (Liu et al., VMamba, 2024).

    ``in_proj`` (C → E = ``ssm_ratio``·C) → depthwise conv → SiLU → cross-scan into four sequences (row-major,
    column-major and both reversed) → per-direction projections to Δ (rank ``dt_rank``), B and C → selective scan with
    ``d_state`` states per channel → cross-merge (sum of the four) → LayerNorm(E) → ``out_proj`` (E → C). There is no
    gate branch (``_noz``). Scanning four ways gives every token a path from every other token, which a single causal
    scan of a flattened image would not.

    Parameter names and shapes are those of the official ``classification/models/vmamba.py`` (``in_proj``,
    ``conv2d``, ``x_proj_weight``, ``dt_projs_weight``, ``dt_projs_bias``, ``A_logs``, ``Ds``, ``out_norm``,
    ``out_proj``), so its checkpoints load by renaming the block prefix only. Numerics follow the official kernel path:
    the projections run in the activation dtype (bf16/fp16 under autocast), the Δ bias, A, D and the scan state are
    float32, and the merge and ``out_norm`` run in float32 before the cast back for ``out_proj``.

    Args:
        dim: channels C of the input and output.
        d_state: state size N per channel.
        ssm_ratio: expansion E / C of the inner width.
        dt_rank: rank R of the Δ projection, or ``"auto"`` for ``ceil(dim / 16)``.
        d_conv: kernel size of the depthwise convolution (odd).
        conv_bias: give the depthwise convolution a bias.
        dt_min: smallest initial step size Δ.
        dt_max: largest initial step size Δ.
        dt_init_floor: lower clamp of the initial step sizes.
        scan_impl: form of the selective scan (``"auto"``, ``"chunked"``, ``"reference"``, ``"triton"``);
            ``"reference"`` also takes the reference cross-scan and cross-merge, giving the layer's definition;
            ``"auto"`` runs on a GPU through the fused SS2D core (:func:`~vmix.ops.ss2d_core.ss2d_core`; training
            needs ``d_state=1``) and through the composed one elsewhere; ``"fused"`` insists on the fused core.

    Example:
        >>> mixer = SS2D(32)
        >>> mixer(torch.randn(2, 7, 9, 32)).shape
        torch.Size([2, 7, 9, 32])
    """

    conv_impl: str = "auto"
    """Form of the depthwise convolution, passed to :func:`vmix.ops.dwconv` (``"auto"``, ``"aten"``, ``"reference"``,
    ``"triton"``); set it on an instance to force one. Not a parameter: the state_dict does not change."""

    def __init__(
        self,
        dim: int,
        *,
        d_state: int = 1,
        ssm_ratio: float = 2.0,
        dt_rank: int | str = "auto",
        d_conv: int = 3,
        conv_bias: bool = False,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        scan_impl: str = "auto",
    ) -> None:
        super().__init__()
        inner = int(ssm_ratio * dim)
        if dim < 1 or d_state < 1 or inner < 1:
            raise ValueError(f"dim, d_state and int(ssm_ratio * dim) must be positive; got {dim}, {d_state}, {inner}")
        if dt_rank != "auto" and not (isinstance(dt_rank, int) and dt_rank >= 1):
            raise ValueError(f"dt_rank must be 'auto' or a positive int; got {dt_rank!r}")
        if d_conv < 1 or d_conv % 2 == 0:
            raise ValueError(f"d_conv must be a positive odd kernel size (the map keeps its size); got {d_conv}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"expected 0 < dt_min <= dt_max; got dt_min={dt_min}, dt_max={dt_max}")
        if scan_impl not in _IMPLS:
            raise ValueError(f"unknown scan_impl {scan_impl!r}; expected one of {_IMPLS}")
        self.dim, self.d_inner, self.d_state = dim, inner, d_state
        self.dt_rank = math.ceil(dim / 16) if dt_rank == "auto" else dt_rank
        self.dt_min, self.dt_max, self.dt_init_floor = dt_min, dt_max, dt_init_floor
        self.scan_impl = scan_impl
        k, e, n, r = _DIRECTIONS, inner, d_state, self.dt_rank

        self.in_proj = nn.Linear(dim, e, bias=False)
        self.conv2d = nn.Conv2d(e, e, d_conv, padding=d_conv // 2, groups=e, bias=conv_bias)
        self.x_proj_weight = nn.Parameter(torch.empty(k, r + 2 * n, e))  # rows: dt_low (R), B (N), C (N)
        self.dt_projs_weight = nn.Parameter(torch.empty(k, e, r))
        self.dt_projs_bias = nn.Parameter(torch.empty(k, e))
        self.A_logs = nn.Parameter(torch.empty(k * e, n))  # row k·E + d
        self.Ds = nn.Parameter(torch.empty(k * e))
        self.out_norm = nn.LayerNorm(e, eps=1e-5)
        self.out_proj = nn.Linear(e, dim, bias=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """VMamba's initialisation: trunc-normal(0.02) projections, default conv, the SSM parameters their own."""
        e, n, r = self.d_inner, self.d_state, self.dt_rank
        for linear in (self.in_proj, self.out_proj):
            nn.init.trunc_normal_(linear.weight, std=0.02, a=-2.0, b=2.0)
        self.conv2d.reset_parameters()
        self.out_norm.reset_parameters()
        # Each direction's x_proj is a fresh nn.Linear(E, R + 2N) in the official code: PyTorch's default bound.
        nn.init.uniform_(self.x_proj_weight, -(e**-0.5), e**-0.5)
        nn.init.uniform_(self.dt_projs_weight, -(r**-0.5), r**-0.5)
        # Initial Δ log-uniform in [dt_min, dt_max]; the bias is its softplus inverse, so softplus(bias) = Δ.
        log_dt = torch.empty_like(self.dt_projs_bias).uniform_(math.log(self.dt_min), math.log(self.dt_max))
        dt = log_dt.exp().clamp(min=self.dt_init_floor)
        self.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        # S4D-real: A = -(1, 2, ..., N) for every channel.
        self.A_logs.copy_(torch.arange(1, n + 1, dtype=self.A_logs.dtype).log().expand_as(self.A_logs))
        self.Ds.fill_(1.0)

    @shapecheck
    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h w c"]:
        """Mix tokens of a channels-last map.

        Args:
            x: ``(batch, h, w, dim)``, any ``h`` and ``w``.

        Returns:
            ``(batch, h, w, dim)``.
        """
        if x.ndim != 4 or x.shape[-1] != self.dim:
            raise ValueError(f"SS2D expects channels-last input (batch, h, w, dim={self.dim}); got {tuple(x.shape)}")
        cross_impl = "reference" if self.scan_impl == "reference" else "auto"
        n, r = self.d_state, self.dt_rank

        # Pointwise work and the norm run on the flat token sequence, not the (h, w) map: Inductor's layout
        # optimisation would give a 4-D (b, h, w, e) intermediate (the SiLU's output and its gradient, the norm's
        # saved activations) channels-last strides, h innermost, and every kernel touching it would work transposed.
        h, w = x.shape[1:3]
        z = self.in_proj(x.flatten(1, 2)).unflatten(1, (h, w))
        z = dwconv(z, self.conv2d.weight, self.conv2d.bias, activation="silu", impl=self.conv_impl)
        z = z.flatten(1, 2)  # [B, L, E]
        # x_proj is pointwise per token, so it commutes with the traversals: one product on the map (reading it
        # once, not its four copies), then each direction takes its own projection in its own order.
        j = r + 2 * n
        proj = cross_scan(F.linear(z, self.x_proj_weight.flatten(0, 1)).unflatten(1, (h, w)), impl=cross_impl)
        x_dbl = torch.stack([proj[:, k, k * j : (k + 1) * j] for k in range(_DIRECTIONS)], dim=1)  # [B, K, J, L]
        y = ss2d_core(
            z.unflatten(1, (h, w)),
            x_dbl,
            self.dt_projs_weight,
            _at_least_float32(self.dt_projs_bias),
            -torch.exp(_at_least_float32(self.A_logs)),
            _at_least_float32(self.Ds),
            impl={"reference": "reference", "auto": "auto", "fused": "fused"}.get(self.scan_impl, "composed"),
            scan_impl="auto" if self.scan_impl == "fused" else self.scan_impl,
        )
        norm, y = self.out_norm, y.flatten(1, 2)
        y = F.layer_norm(y, norm.normalized_shape, norm.weight.to(y.dtype), norm.bias.to(y.dtype), norm.eps)
        return self.out_proj(y.to(z.dtype)).unflatten(1, (h, w))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, d_inner={self.d_inner}, d_state={self.d_state}, dt_rank={self.dt_rank}"
