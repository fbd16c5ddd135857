"""VSSD's NC-SSD token mixer and its causal ablations (SSD, Bi-SSD), one mixer differing only in the core.

VSSD (Shi et al., "VSSD: Vision Mamba with Non-Causal State Space Duality", 2024) keeps Mamba2's SSD block but
swaps its causal scan for the non-causal SSD, in which every token reads one global state, so no scan order over the
image is needed. Its ablations (Table 5) keep every parameter and swap only the core back: the causal SSD over the
raster order, or the causal SSD on half of the heads and the reversed order on the other half. Hence one base class,
:class:`SSDMixer`, holding the projections, the 3×3 depthwise convolution, the norm and the gate, and three small
subclasses that each supply the core. Parameter names and shapes are the official ones (``in_proj``, ``conv2d``,
``dt_bias``, ``A_log``, ``D``, ``norm``, ``out_proj``), so official weights load by renaming the prefix only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from jaxtyping import Float
from torch import Tensor, nn

from vmix._shapecheck import shapecheck
from vmix.ops.dwconv import dwconv
from vmix.ops.nc_ssd import IMPLS as NC_SSD_IMPLS
from vmix.ops.nc_ssd import nc_ssd
from vmix.ops.ssd import IMPLS as SSD_IMPLS
from vmix.ops.ssd import ssd

__all__ = ["SSDMixer", "NCSSD", "SSD", "BiSSD"]


class SSDMixer(nn.Module):
    """The mixer VSSD builds from Mamba2's SSD block, with the core left to subclasses.

    Per feature map ``(b, h, w, dim)``: ``in_proj`` splits into the gate ``z`` (E = expand·dim), ``xBC`` (E + 2·G·n)
    and the step ``dt`` (heads); ``dt = softplus(dt + dt_bias)``; ``xBC`` goes through a depthwise ``d_conv × d_conv``
    convolution over the image (with bias) and SiLU, then splits into ``x`` (heads × head_dim), ``B`` and ``C``
    (groups × n); the core mixes the tokens in raster order; the result is normalised by ``LayerNorm(E)``, gated by
    the raw ``z`` (no SiLU: VSSD's code, unlike Mamba2's gated RMSNorm) and projected back by ``out_proj``.

    Args:
        dim: channels of the input and output.
        heads: number of heads; must divide ``expand · dim``.
        d_state: state size ``n`` per group.
        expand: inner width ``E = expand · dim``.
        d_conv: side of the depthwise convolution; odd, so the map keeps its size.
        groups: number of ``B``/``C`` groups; must divide ``heads``.
        learn_dt: project a step ``dt`` per token and head and learn ``dt_bias``, ``A_log``; without it (VSSD's
            "without m" ablation) there are no such rows or parameters and the core sees ``dt ≡ 1``, ``A ≡ −1``.

    Raises:
        ValueError: for ``heads`` not dividing ``expand · dim``, ``groups`` not dividing ``heads``, or an even
            ``d_conv``.

    Example:
        A new core is a subclass with a ``core`` method; everything else (and the state_dict layout) is shared:

        >>> class LocalOnly(SSDMixer):
        ...     def core(self, x, dt, A, B, C):
        ...         return self.D[:, None] * x
        >>> LocalOnly(32, heads=2, d_state=16)(torch.randn(1, 4, 5, 32)).shape
        torch.Size([1, 4, 5, 32])
    """

    conv_impl: str = "auto"
    """Form of the depthwise convolution, passed to :func:`vmix.ops.dwconv` (``"auto"``, ``"aten"``, ``"reference"``,
    ``"triton"``); set it on an instance to force one. Not a parameter: the state_dict does not change."""

    def __init__(
        self,
        dim: int,
        *,
        heads: int,
        d_state: int = 64,
        expand: int = 2,
        d_conv: int = 3,
        groups: int = 1,
        learn_dt: bool = True,
    ) -> None:
        super().__init__()
        inner = expand * dim
        if inner % heads:
            raise ValueError(f"heads ({heads}) must divide the inner width expand * dim = {expand} * {dim} = {inner}")
        if heads % groups:
            raise ValueError(f"groups ({groups}) must divide heads ({heads})")
        if d_conv % 2 == 0:
            raise ValueError(f"d_conv must be odd so the feature map keeps its size; got {d_conv}")
        self.dim, self.heads, self.d_state, self.groups, self.inner = dim, heads, d_state, groups, inner
        conv_channels = inner + 2 * groups * d_state
        # in_proj rows, in the official order: z | x, B, C (convolved together) | dt
        self._proj_split = [inner, conv_channels, heads if learn_dt else 0]
        self._conv_split = [inner, groups * d_state, groups * d_state]
        self.in_proj = nn.Linear(dim, sum(self._proj_split), bias=False)
        self.conv2d = nn.Conv2d(conv_channels, conv_channels, d_conv, padding=d_conv // 2, groups=conv_channels)
        if learn_dt:
            self.dt_bias = nn.Parameter(torch.empty(heads))
            self.A_log = nn.Parameter(torch.empty(heads))
        else:
            self.dt_bias = self.A_log = None
        self.D = nn.Parameter(torch.empty(heads))
        self.norm = nn.LayerNorm(inner)
        self.out_proj = nn.Linear(inner, dim, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """VSSD's initialisation: trunc-normal projections, ``A ∈ U(1, 16)``, ``dt ∈ logU(1e-3, 1e-1)``, ``D = 1``."""
        for proj in (self.in_proj, self.out_proj):
            nn.init.trunc_normal_(proj.weight, std=0.02, a=-2.0, b=2.0)
        self.conv2d.reset_parameters()
        self.norm.reset_parameters()
        with torch.no_grad():
            self.D.fill_(1.0)
            if self.A_log is not None:
                self.A_log.copy_(torch.empty_like(self.A_log).uniform_(1.0, 16.0).log())
                dt = torch.empty_like(self.dt_bias).uniform_(math.log(1e-3), math.log(1e-1)).exp().clamp(min=1e-4)
                self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹, so softplus(dt_bias) = dt

    def _check(self, x: Tensor) -> None:
        if x.shape[-1] != self.dim:
            raise ValueError(
                f"{type(self).__name__}: expected channels-last input (b, h, w, dim={self.dim}); "
                f"got shape {tuple(x.shape)}"
            )

    def _step(self, dt: Tensor | None, like: Tensor) -> tuple[Tensor, Tensor]:
        """``(dt, A)`` from the raw ``dt`` rows of ``in_proj``: ``dt ≡ 1`` and ``A ≡ −1`` when they are not learned."""
        if self.A_log is None:
            return like.new_ones(*like.shape[:-1], self.heads), -like.new_ones(self.heads)
        return F.softplus(dt + self.dt_bias), -torch.exp(self.A_log)

    def core(
        self,
        x: Float[Tensor, "b l heads p"],
        dt: Float[Tensor, "b l heads"],
        A: Float[Tensor, " heads"],
        B: Float[Tensor, "b l g n"],
        C: Float[Tensor, "b l g n"],
    ) -> Float[Tensor, "b l heads p"]:
        """Mix the tokens (raster order) of every head, D skip included. Implemented by each mixer."""
        raise NotImplementedError

    @shapecheck
    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h w c"]:
        """Mix the tokens of a channels-last feature map.

        Raises:
            ValueError: if the last axis is not ``dim``.
        """
        self._check(x)
        # Everything but the convolution and the core runs on the flat token sequence (VSSBlock.forward says why).
        height = x.shape[1]
        t, weight = x.flatten(1, 2), self.in_proj.weight
        inner, conv_channels, heads = self._proj_split
        # The convolved rows get a product of their own, so the convolution reads a dense map: a channel slice of
        # one wide product is copied to a dense tensor before cuDNN's kernel runs (14 such copies, 8 % of
        # vssd_tiny's inference step on an H100). z and dt share the other product.
        xbc = F.linear(t, weight[inner : inner + conv_channels])
        gate_and_step = torch.cat([weight[:inner], weight[inner + conv_channels :]])
        z, dt = torch.split(F.linear(t, gate_and_step), [inner, heads], dim=-1)
        conv = self.conv2d
        xbc = dwconv(
            xbc.unflatten(1, (height, x.shape[2])), conv.weight, conv.bias, activation="silu", impl=self.conv_impl
        ).flatten(1, 2)
        xs, B, C = torch.split(xbc, self._conv_split, dim=-1)
        dt, A = self._step(dt, xs)
        y = self.core(
            rearrange(xs, "b l (heads p) -> b l heads p", heads=self.heads),
            dt,
            A,
            rearrange(B, "b l (g n) -> b l g n", g=self.groups),
            rearrange(C, "b l (g n) -> b l g n", g=self.groups),
        )
        y = rearrange(y, "b l heads p -> b l (heads p)")
        return self.out_proj(self.norm(y) * z).unflatten(1, (height, x.shape[2]))


class NCSSD(SSDMixer):
    """VSSD's token mixer: the SSD block with the non-causal core ``y_l = Σ_s (C_l · B_s) m_s x_s + D x_l``.

    Every token reads one global state, so the result does not depend on how the map is flattened and costs linear
    time (:func:`vmix.ops.nc_ssd`); the 3×3 convolution is the only source of spatial position. ``m = dt · exp(A_log)``
    is a learned, positive, unnormalised weight per token and head.

    Args:
        dim, heads, d_state, expand, d_conv, groups: as :class:`SSDMixer`. With ``groups > 1``, head ``j`` reads group
            ``j % groups`` (the official non-causal code's assignment).
        use_m: learn ``m``; ``False`` is VSSD Table 6's "without m" ablation (``m ≡ 1``, no ``dt`` rows, no
            ``dt_bias``/``A_log``).
        impl: form of the core, passed to :func:`vmix.ops.nc_ssd` (``"auto"``, ``"linear"``, ``"quadratic"``,
            ``"reference"``).

    Example:
        >>> mixer = NCSSD(32, heads=2, d_state=16)
        >>> mixer(torch.randn(2, 7, 9, 32)).shape
        torch.Size([2, 7, 9, 32])
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int,
        d_state: int = 64,
        expand: int = 2,
        d_conv: int = 3,
        groups: int = 1,
        use_m: bool = True,
        impl: str = "auto",
    ) -> None:
        super().__init__(dim, heads=heads, d_state=d_state, expand=expand, d_conv=d_conv, groups=groups, learn_dt=use_m)
        if impl not in NC_SSD_IMPLS:
            raise ValueError(f"NCSSD: unknown impl {impl!r}; expected one of {', '.join(map(repr, NC_SSD_IMPLS))}")
        self.impl = impl

    def core(self, x, dt, A, B, C):
        """The non-causal SSD of every head, D skip included."""
        return nc_ssd(x, dt, A, B, C, self.D, impl=self.impl)

    @shapecheck
    def token_weights(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h w heads"]:
        """The weight ``m`` each token carries into the global state, per head (VSSD Fig. 3's heat maps).

        Example:
            >>> NCSSD(32, heads=2, d_state=16).token_weights(torch.randn(1, 5, 6, 32)).shape
            torch.Size([1, 5, 6, 2])
        """
        self._check(x)
        dt, A = self._step(F.linear(x, self.in_proj.weight[sum(self._proj_split[:2]) :]), x)
        return dt * -A


class SSD(SSDMixer):
    """VSSD Table 5's "SSD" ablation: the same mixer with Mamba2's causal SSD over the raster order.

    Args:
        dim, heads, d_state, expand, d_conv, groups: as :class:`SSDMixer`; head ``j`` reads group
            ``j // (heads // groups)`` (Mamba2's assignment).
        chunk_size: chunk length of the chunked causal scan.
        impl: form of the core, passed to :func:`vmix.ops.ssd`.

    Example:
        >>> SSD(32, heads=2, d_state=16)(torch.randn(2, 7, 9, 32)).shape
        torch.Size([2, 7, 9, 32])
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int,
        d_state: int = 64,
        expand: int = 2,
        d_conv: int = 3,
        groups: int = 1,
        chunk_size: int = 256,
        impl: str = "auto",
    ) -> None:
        super().__init__(dim, heads=heads, d_state=d_state, expand=expand, d_conv=d_conv, groups=groups)
        if impl not in SSD_IMPLS:
            expected = ", ".join(map(repr, SSD_IMPLS))
            raise ValueError(f"{type(self).__name__}: unknown impl {impl!r}; expected one of {expected}")
        self.chunk_size, self.impl = chunk_size, impl

    def core(self, x, dt, A, B, C):
        """The causal SSD of every head over the raster order, D skip included."""
        return ssd(x, dt, A, B, C, self.D, chunk_size=self.chunk_size, impl=self.impl)


class BiSSD(SSD):
    """VSSD Table 5's "Bi-SSD" ablation: causal SSD on the first half of the heads, reversed order on the second.

    Heads (with their ``dt``, ``A``, ``D``) and groups (``B``, ``C``) are split into halves; the first half scans the
    raster order, the second half the reversed order and is reversed back. Groups must be even, so each direction
    has its own ``B`` and ``C`` (the official ablation uses ``groups=2``).

    Args:
        dim, heads, d_state, expand, d_conv, chunk_size, impl: as :class:`SSD`.
        groups: number of ``B``/``C`` groups, even.

    Raises:
        ValueError: for an odd ``groups``, besides :class:`SSDMixer`'s checks.

    Example:
        >>> BiSSD(32, heads=2, d_state=16)(torch.randn(2, 7, 9, 32)).shape
        torch.Size([2, 7, 9, 32])
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int,
        d_state: int = 64,
        expand: int = 2,
        d_conv: int = 3,
        groups: int = 2,
        chunk_size: int = 256,
        impl: str = "auto",
    ) -> None:
        if groups % 2:
            raise ValueError(f"BiSSD splits the groups between two directions: groups must be even; got {groups}")
        super().__init__(
            dim,
            heads=heads,
            d_state=d_state,
            expand=expand,
            d_conv=d_conv,
            groups=groups,
            chunk_size=chunk_size,
            impl=impl,
        )

    def core(self, x, dt, A, B, C):
        """Forward heads on the raster order, backward heads on the reversed order, concatenated on the head axis."""
        h, g = self.heads // 2, self.groups // 2
        forward = ssd(
            x[:, :, :h],
            dt[:, :, :h],
            A[:h],
            B[:, :, :g],
            C[:, :, :g],
            self.D[:h],
            chunk_size=self.chunk_size,
            impl=self.impl,
        )
        backward = ssd(
            x[:, :, h:].flip(1),
            dt[:, :, h:].flip(1),
            A[h:],
            B[:, :, g:].flip(1),
            C[:, :, g:].flip(1),
            self.D[h:],
            chunk_size=self.chunk_size,
            impl=self.impl,
        )
        return torch.cat([forward, backward.flip(1)], dim=2)
