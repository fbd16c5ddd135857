"""Hypothesis strategies for the token-mixer operators and layers.

Each strategy draws a *case*: the shapes (batch 1, length 1, odd lengths, lengths that are not a multiple of the
chunk size, several groups), a dtype, and well-conditioned random tensors in the exact layout the op takes. The
tensor values come from a seeded ``torch.Generator`` (hypothesis draws the seed), so a failing case replays exactly.

They are public so users can property-test their own mixers against a recurrent reference::

    from hypothesis import given
    import vmix.testing as vt

    @given(case=vt.ssd_cases(max_len=64))
    def test_my_ssd(case):
        vt.assert_forms_agree(my_ssd, vmix.ops.ssd_reference, case.inputs, case.tol)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from hypothesis import strategies as st
from torch import Tensor

from vmix.testing.assertions import Tolerance, tolerance_for

__all__ = [
    "Case",
    "lengths",
    "float_dtypes",
    "selective_scan_cases",
    "ssd_cases",
    "nc_ssd_cases",
    "attention_cases",
    "image_cases",
    "ss2d_core_cases",
    "dwconv_cases",
    "mlp_cases",
]


@dataclass(frozen=True)
class Case:
    """One drawn example: keyword inputs of the op, the chunk size to use, the tolerance for its dtype.

    Attributes:
        inputs: keyword arguments of the op (tensors and flags).
        tol: tolerance of a fast form against the float64 reference for the inputs' dtype.
        chunk_size: a chunk size for chunked forms, drawn so that it often does not divide the length.
        id: a readable id such as ``B2-L45-D6-N3-G2-f64``.
    """

    inputs: dict
    tol: Tolerance
    chunk_size: int = 16
    id: str = ""
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Case({self.id}, chunk_size={self.chunk_size})"


_SHORT = {torch.float64: "f64", torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}


def lengths(max_len: int = 96) -> st.SearchStrategy[int]:
    """Sequence lengths biased towards the edge cases: 1, 2, small odd numbers, primes, and ``max_len`` itself."""
    edge = st.sampled_from(sorted({1, 2, 3, 7, 17, 31, 63, 64, 65, max_len} & set(range(1, max_len + 1))))
    return st.one_of(edge, st.integers(1, max_len))


def float_dtypes(*dtypes: torch.dtype) -> st.SearchStrategy[torch.dtype]:
    """Floating dtypes to draw from (float64 only by default: the reference comparison at full precision)."""
    return st.sampled_from(dtypes or (torch.float64,))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _inv_softplus(y: Tensor) -> Tensor:
    return y + torch.log(-torch.expm1(-y))


@st.composite
def selective_scan_cases(
    draw,
    *,
    max_len: int = 96,
    max_batch: int = 3,
    max_dim: int = 8,
    max_state: int = 4,
    dtypes: tuple[torch.dtype, ...] = (torch.float64,),
    max_chunk: int = 32,
) -> Case:
    """Inputs of ``vmix.ops.selective_scan`` in mamba_ssm's layout.

    ``u, delta: (batch, dim, length)``, ``A: (dim, d_state)`` (negative), ``B, C: (batch, groups, d_state, length)``,
    ``D, delta_bias: (dim,)`` or ``None``, ``delta_softplus`` either way. Δ is drawn like VMamba's initialisation
    (``softplus⁻¹`` of ``exp(U(ln 1e-3, ln 1e-1))``) scaled up so decays span from almost 1 to strong, and ``A`` in
    ``[-e, -e^-2]``: products Δ·A that a float32 chunked scan handles without under- or overflow.
    """
    batch = draw(st.integers(1, max_batch))
    groups = draw(st.sampled_from([1, 1, 2]))
    dim = groups * draw(st.integers(1, max(1, max_dim // groups)))
    d_state = draw(st.integers(1, max_state))
    length = draw(lengths(max_len))
    dtype = draw(float_dtypes(*dtypes))
    softplus = draw(st.booleans())
    with_d = draw(st.booleans())
    with_bias = draw(st.booleans())
    chunk = draw(st.integers(1, max_chunk))
    g = _gen(draw(st.integers(0, 2**31 - 1)))

    dt = torch.exp(
        torch.empty(batch, dim, length, dtype=torch.float64).uniform_(math.log(1e-3), math.log(1.0), generator=g)
    )
    delta = _inv_softplus(dt) if softplus else dt
    bias = None
    if with_bias:
        bias = torch.randn(dim, dtype=torch.float64, generator=g) * 0.5
        delta = delta - bias[:, None]  # keep Δ (after the bias) in the drawn range
    inputs = dict(
        u=torch.randn(batch, dim, length, generator=g, dtype=torch.float64).to(dtype),
        delta=delta.to(dtype),
        A=-torch.exp(torch.empty(dim, d_state, dtype=torch.float64).uniform_(-2.0, 1.0, generator=g)).to(dtype),
        B=torch.randn(batch, groups, d_state, length, generator=g, dtype=torch.float64).to(dtype),
        C=torch.randn(batch, groups, d_state, length, generator=g, dtype=torch.float64).to(dtype),
        D=torch.randn(dim, generator=g, dtype=torch.float64).to(dtype) if with_d else None,
        delta_bias=bias.to(dtype) if bias is not None else None,
        delta_softplus=softplus,
    )
    case_id = f"B{batch}-D{dim}-N{d_state}-G{groups}-L{length}-{_SHORT[dtype]}"
    return Case(inputs=inputs, tol=tolerance_for(dtype), chunk_size=chunk, id=case_id)


def _ssd_common(draw, max_len, max_batch, max_heads, max_head_dim, max_state, dtypes, max_chunk):
    batch = draw(st.integers(1, max_batch))
    groups = draw(st.sampled_from([1, 1, 2]))
    heads = groups * draw(st.integers(1, max(1, max_heads // groups)))
    head_dim = draw(st.integers(1, max_head_dim))
    d_state = draw(st.integers(1, max_state))
    length = draw(lengths(max_len))
    dtype = draw(float_dtypes(*dtypes))
    with_d = draw(st.booleans())
    chunk = draw(st.integers(1, max_chunk))
    g = _gen(draw(st.integers(0, 2**31 - 1)))
    f64 = dict(dtype=torch.float64)
    dt = torch.nn.functional.softplus(torch.randn(batch, length, heads, generator=g, **f64) - 2.0)
    inputs = dict(
        x=torch.randn(batch, length, heads, head_dim, generator=g, **f64).to(dtype),
        dt=dt.to(dtype),
        A=-torch.exp(torch.empty(heads, **f64).uniform_(-1.0, math.log(4.0), generator=g)).to(dtype),
        B=(torch.randn(batch, length, groups, d_state, generator=g, **f64) / math.sqrt(d_state)).to(dtype),
        C=(torch.randn(batch, length, groups, d_state, generator=g, **f64) / math.sqrt(d_state)).to(dtype),
        D=torch.randn(heads, generator=g, **f64).to(dtype) if with_d else None,
    )
    case_id = f"B{batch}-L{length}-H{heads}-P{head_dim}-N{d_state}-G{groups}-{_SHORT[dtype]}"
    return Case(inputs=inputs, tol=tolerance_for(dtype), chunk_size=chunk, id=case_id)


@st.composite
def ssd_cases(
    draw,
    *,
    max_len: int = 96,
    max_batch: int = 2,
    max_heads: int = 4,
    max_head_dim: int = 6,
    max_state: int = 5,
    dtypes: tuple[torch.dtype, ...] = (torch.float64,),
    max_chunk: int = 32,
) -> Case:
    """Inputs of ``vmix.ops.ssd`` (Mamba2's causal SSD): ``x (b, l, h, p)``, ``dt (b, l, h)`` positive,
    ``A (h,)`` negative, ``B, C (b, l, g, n)``, ``D (h,)`` or ``None``; heads a multiple of groups."""
    return _ssd_common(draw, max_len, max_batch, max_heads, max_head_dim, max_state, dtypes, max_chunk)


@st.composite
def nc_ssd_cases(
    draw,
    *,
    max_len: int = 96,
    max_batch: int = 2,
    max_heads: int = 4,
    max_head_dim: int = 6,
    max_state: int = 5,
    dtypes: tuple[torch.dtype, ...] = (torch.float64,),
) -> Case:
    """Inputs of ``vmix.ops.nc_ssd`` (VSSD's non-causal SSD): same layout as :func:`ssd_cases`.

    ``B`` and ``C`` are scaled by ``1/sqrt(length)`` so the unnormalised global sum stays O(1) at any length.
    """
    case = _ssd_common(draw, max_len, max_batch, max_heads, max_head_dim, max_state, dtypes, 1)
    length = case.inputs["x"].shape[1]
    scale = length**-0.25
    case.inputs["B"] = case.inputs["B"] * scale
    case.inputs["C"] = case.inputs["C"] * scale
    return case


@st.composite
def attention_cases(
    draw,
    *,
    max_len: int = 80,
    max_batch: int = 2,
    max_heads: int = 4,
    max_head_dim: int = 16,
    dtypes: tuple[torch.dtype, ...] = (torch.float64,),
) -> Case:
    """Inputs of ``vmix.ops.attention``: ``q, k, v (b, heads, l, head_dim)``."""
    batch = draw(st.integers(1, max_batch))
    heads = draw(st.integers(1, max_heads))
    length = draw(lengths(max_len))
    head_dim = draw(st.integers(1, max_head_dim))
    dtype = draw(float_dtypes(*dtypes))
    g = _gen(draw(st.integers(0, 2**31 - 1)))
    shape = (batch, heads, length, head_dim)
    inputs = {k: torch.randn(shape, generator=g, dtype=torch.float64).to(dtype) for k in ("q", "k", "v")}
    return Case(inputs=inputs, tol=tolerance_for(dtype), id=f"B{batch}-H{heads}-L{length}-P{head_dim}-{_SHORT[dtype]}")


@st.composite
def image_cases(
    draw,
    *,
    max_batch: int = 2,
    max_side: int = 11,
    dims: tuple[int, ...] = (8, 16),
    dtypes: tuple[torch.dtype, ...] = (torch.float64,),
) -> Case:
    """Channels-last feature maps ``x (b, h, w, c)`` for token mixers, with non-square and odd sides (1 included)."""
    batch = draw(st.integers(1, max_batch))
    height = draw(st.integers(1, max_side))
    width = draw(st.integers(1, max_side))
    dim = draw(st.sampled_from(dims))
    dtype = draw(float_dtypes(*dtypes))
    g = _gen(draw(st.integers(0, 2**31 - 1)))
    x = torch.randn(batch, height, width, dim, generator=g, dtype=torch.float64).to(dtype)
    return Case(inputs={"x": x}, tol=tolerance_for(dtype), id=f"B{batch}-H{height}-W{width}-C{dim}-{_SHORT[dtype]}")


@st.composite
def ss2d_core_cases(
    draw,
    *,
    max_batch: int = 2,
    max_side: int = 9,
    max_dim: int = 40,
    max_rank: int = 3,
    max_state: int = 2,
    dtypes: tuple[torch.dtype, ...] = (torch.float64,),
) -> Case:
    """Inputs of ``vmix.ops.ss2d_core``: a map ``z (b, h, w, E)`` with odd, non-square and 1-wide sides, per-direction
    ``x_dbl (b, 4, R + 2N, h·w)``, ``dt_weight (4, E, R)``, ``dt_bias (4, E)``, ``A (4·E, N)`` and ``D (4·E,)``.

    The Δ bias puts ``softplus(dt_weight · dt_low + dt_bias)`` around VMamba's initial range, so decays span from
    almost 1 to strong; ``E`` goes past 32 so channel blocks of a kernel can be partly filled.
    """
    batch = draw(st.integers(1, max_batch))
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    dim = draw(st.integers(1, max_dim))
    rank, d_state = draw(st.integers(1, max_rank)), draw(st.integers(1, max_state))
    dtype = draw(float_dtypes(*dtypes))
    g = _gen(draw(st.integers(0, 2**31 - 1)))

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    inputs = dict(
        z=randn(batch, height, width, dim).to(dtype),
        x_dbl=randn(batch, 4, rank + 2 * d_state, height * width).to(dtype),
        dt_weight=(randn(4, dim, rank) * rank**-0.5).to(dtype),
        dt_bias=(randn(4, dim) * 0.5 - 3.0).to(dtype),
        A=-torch.exp(torch.empty(4 * dim, d_state, dtype=torch.float64).uniform_(-2.0, 1.0, generator=g)).to(dtype),
        D=randn(4 * dim).to(dtype),
    )
    case_id = f"B{batch}-H{height}-W{width}-E{dim}-R{rank}-N{d_state}-{_SHORT[dtype]}"
    return Case(inputs=inputs, tol=tolerance_for(dtype), id=case_id)


@st.composite
def dwconv_cases(
    draw,
    *,
    max_batch: int = 2,
    max_side: int = 11,
    max_dim: int = 40,
    kernel_sizes: tuple[int, ...] = (1, 3, 5, 7),
    dtypes: tuple[torch.dtype, ...] = (torch.float64,),
) -> Case:
    """Inputs of ``vmix.ops.dwconv``: a channels-last map ``x (b, h, w, c)``, ``weight (c, 1, k, k)`` and a bias or
    ``None``. Sides go from 1 to beyond the kernel and ``c`` past 32 (partly filled channel blocks).

    ``meta["pad"]`` is ``(before, after)``: a layer often convolves a channel slice of a wider projection output, so a
    test can widen ``x`` by that many channels on each side and pass the slice back (``F.pad`` then slicing keeps
    ``x`` the leaf that gets the gradient); ``(0, 0)`` is the dense map.
    """
    batch = draw(st.integers(1, max_batch))
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    dim = draw(st.integers(1, max_dim))
    k = draw(st.sampled_from(kernel_sizes))
    pad = draw(st.sampled_from([(0, 0), (0, 5), (3, 4)]))
    with_bias = draw(st.booleans())
    dtype = draw(float_dtypes(*dtypes))
    g = _gen(draw(st.integers(0, 2**31 - 1)))
    inputs = dict(
        x=torch.randn(batch, height, width, dim, generator=g, dtype=torch.float64).to(dtype),
        weight=(torch.randn(dim, 1, k, k, generator=g, dtype=torch.float64) / k).to(dtype),
        bias=torch.randn(dim, generator=g, dtype=torch.float64).to(dtype) if with_bias else None,
    )
    case_id = f"B{batch}-H{height}-W{width}-C{dim}-K{k}-pad{pad[0]}.{pad[1]}{'-bias' if with_bias else ''}"
    return Case(inputs=inputs, tol=tolerance_for(dtype), id=f"{case_id}-{_SHORT[dtype]}", meta=dict(pad=pad))


@st.composite
def mlp_cases(
    draw,
    *,
    max_rows: int = 40,
    max_dim: int = 80,
    max_hidden: int = 200,
    dtypes: tuple[torch.dtype, ...] = (torch.float64,),
) -> Case:
    """Inputs of ``vmix.ops.mlp``: tokens ``x (b, n, c)``, ``fc1_weight (hidden, c)``, ``fc2_weight (c, hidden)``
    and biases or ``None``. One row, widths and hidden sizes that fill no power of two, and several row blocks.

    The weights are scaled as a trained layer's are (unit-variance products), so GELU sees both of its sides.
    """
    batch, rows = draw(st.integers(1, 2)), draw(lengths(max_rows))
    dim, hidden = draw(st.integers(1, max_dim)), draw(st.integers(1, max_hidden))
    with_bias = draw(st.booleans())
    dtype = draw(float_dtypes(*dtypes))
    g = _gen(draw(st.integers(0, 2**31 - 1)))

    def randn(*shape: int, scale: float = 1.0) -> Tensor:
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    inputs = dict(
        x=randn(batch, rows, dim),
        fc1_weight=randn(hidden, dim, scale=dim**-0.5),
        fc1_bias=randn(hidden, scale=0.5) if with_bias else None,
        fc2_weight=randn(dim, hidden, scale=hidden**-0.5),
        fc2_bias=randn(dim, scale=0.5) if with_bias else None,
    )
    case_id = f"B{batch}-N{rows}-C{dim}-H{hidden}{'-bias' if with_bias else ''}"
    return Case(inputs=inputs, tol=tolerance_for(dtype), id=f"{case_id}-{_SHORT[dtype]}")
