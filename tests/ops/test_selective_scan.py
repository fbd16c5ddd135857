"""selective_scan: the chunked form equals the token-by-token recurrence, forward and backward, at any precision."""

import importlib.util
import math

import jaxtyping
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import vmix.testing as vt
from vmix._opcount import pop_counter, push_counter
from vmix._shapecheck import set_shapecheck

# From the subpackage: `vmix.ops.selective_scan` the attribute is the subpackage once it is imported.
from vmix.ops.selective_scan import selective_scan, selective_scan_chunked, selective_scan_reference


def _chunked(chunk_size):
    return lambda **kw: selective_scan_chunked(**kw, chunk_size=chunk_size)


@given(case=vt.selective_scan_cases(max_len=70, max_chunk=24))
def test_chunked_matches_reference_f64(case):
    vt.assert_forms_agree(_chunked(case.chunk_size), selective_scan_reference, case.inputs, case.tol)


@pytest.mark.parametrize(
    "shape",
    # (batch, dim, groups, d_state, length, chunk): length 1, batch 1, chunks that do not divide the length,
    # a chunk longer than the sequence, groups > 1 with d_state > 1.
    [(1, 2, 1, 1, 1, 4), (1, 3, 1, 2, 17, 5), (2, 4, 2, 3, 33, 8), (2, 6, 3, 1, 64, 64), (1, 2, 2, 2, 9, 16)],
    ids=lambda s: "B{}-D{}-G{}-N{}-L{}-T{}".format(*s),
)
def test_chunked_matches_reference_at_edge_shapes(shape):
    batch, dim, groups, d_state, length, chunk = shape
    g = torch.Generator().manual_seed(sum(shape))
    f64 = dict(dtype=torch.float64, generator=g)
    inputs = dict(
        u=torch.randn(batch, dim, length, **f64),
        delta=torch.randn(batch, dim, length, **f64),
        A=-torch.rand(dim, d_state, **f64) * 2,
        B=torch.randn(batch, groups, d_state, length, **f64),
        C=torch.randn(batch, groups, d_state, length, **f64),
        D=torch.randn(dim, **f64),
        delta_bias=torch.randn(dim, **f64),
        delta_softplus=True,
    )
    vt.assert_forms_agree(_chunked(chunk), selective_scan_reference, inputs, vt.tolerance_for(torch.float64))


# float32 inputs: rel-RMS 2e-4 (floor 1e-6); bfloat16 inputs: rel-RMS 2e-2 (floor 1e-3); against the float64 reference
# on the same (rounded) inputs, output and every input gradient.
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@given(data=st.data())
def test_low_precision_inputs_match_float64_reference(dtype, data):
    case = data.draw(vt.selective_scan_cases(max_len=70, dtypes=(dtype,)))
    assert case.tol == vt.tolerance_for(dtype)
    vt.assert_forms_agree(_chunked(case.chunk_size), selective_scan_reference, case.inputs, case.tol)
    out = selective_scan(**case.inputs, out_dtype=torch.float32)
    assert out.dtype == torch.float32


def test_state_is_float32_for_bfloat16_inputs():
    # A decay of 1 - 2^-10 is 1 in bf16 but not in fp32: after 2000 tokens the two disagree by a factor e^2.
    length = 2000
    u = torch.zeros(1, 1, length, dtype=torch.bfloat16)
    u[..., 0] = 1
    delta = torch.full((1, 1, length), 2.0**-10, dtype=torch.bfloat16)
    A = -torch.ones(1, 1, dtype=torch.bfloat16)
    B = torch.full((1, 1, 1, length), 2.0**10, dtype=torch.bfloat16)
    C = torch.ones(1, 1, 1, length, dtype=torch.bfloat16)
    y = selective_scan(u, delta, A, B, C, chunk_size=64, out_dtype=torch.float32)
    want = math.exp(-(length - 1) * 2.0**-10)
    assert y[0, 0, -1].item() == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_strong_decay_over_a_long_sequence_stays_finite_and_correct(dtype):
    # VMamba-sized stage-1 scan: Δ·A sums to about -1500 over the sequence, far below exp's float32 range (-104).
    batch, dim, length = 1, 3, 3136
    g = torch.Generator().manual_seed(0)
    f64 = dict(dtype=torch.float64, generator=g)
    inputs = dict(
        u=torch.randn(batch, dim, length, **f64).to(dtype),
        delta=torch.rand(batch, dim, length, **f64).to(dtype),
        A=-torch.ones(dim, 1, dtype=dtype),
        B=torch.randn(batch, 1, 1, length, **f64).to(dtype),
        C=torch.randn(batch, 1, 1, length, **f64).to(dtype),
        D=torch.ones(dim, dtype=dtype),
    )
    total = (inputs["delta"].double() * inputs["A"].double()[:, 0, None]).sum(-1)
    assert (total < -1000).all()
    y = selective_scan_chunked(**inputs, chunk_size=64)
    assert torch.isfinite(y).all()
    # The reference recurrence multiplies decays one token at a time, so it has nothing to overflow.
    want = selective_scan_reference(**{k: v.double() for k, v in inputs.items()})
    vt.assert_close(y, want, vt.tolerance_for(dtype))


def test_impl_dispatch():
    case = {**_inputs(length=11), "delta_softplus": True}
    want = selective_scan_reference(**case)
    for impl in ("auto", "chunked", "reference"):
        torch.testing.assert_close(selective_scan(**case, impl=impl, chunk_size=4), want)
    with pytest.raises(ValueError, match=r"unknown impl 'cuda'; expected one of \('auto', 'chunked'"):
        selective_scan(**case, impl="cuda")


def test_an_active_counter_sees_one_selective_scan():
    calls = []

    class Recorder:
        def op(self, name, fn, args, kwargs):
            calls.append((name, kwargs.get("impl")))
            return fn(*args, **kwargs)

    push_counter(Recorder())
    try:
        selective_scan(**_inputs(), impl="chunked")
    finally:
        pop_counter()
    assert calls == [("selective_scan", "chunked")]


@pytest.mark.skipif(importlib.util.find_spec("triton") is not None, reason="triton is installed")
def test_triton_impl_without_triton_says_so():
    x = torch.randn(1, 2, 3)
    with pytest.raises(ImportError, match="needs the triton package"):
        selective_scan(x, x, -torch.ones(2, 1), torch.randn(1, 1, 1, 3), torch.randn(1, 1, 1, 3), impl="triton")


def _inputs(batch=2, dim=4, groups=2, d_state=3, length=5):
    return dict(
        u=torch.randn(batch, dim, length),
        delta=torch.randn(batch, dim, length),
        A=-torch.rand(dim, d_state),
        B=torch.randn(batch, groups, d_state, length),
        C=torch.randn(batch, groups, d_state, length),
    )


@pytest.fixture
def no_shapecheck():
    # What a user sees: shape checking is off outside the test suite, so the ValueErrors must stand on their own.
    set_shapecheck(False)
    yield
    set_shapecheck(True)


@pytest.mark.usefixtures("no_shapecheck")
@pytest.mark.parametrize("form", [selective_scan, selective_scan_chunked, selective_scan_reference])
@pytest.mark.parametrize(
    "change, message",
    [
        (dict(delta=torch.randn(2, 4, 6)), r"delta must have u's shape \(batch, dim, length\) = \(2, 4, 5\)"),
        (dict(A=-torch.rand(5, 3)), r"A must be \(dim, d_state\) with dim = 4"),
        (dict(B=torch.randn(2, 2, 3, 6)), r"B must be \(batch, groups, d_state, length\) = \(2, groups, 3, 5\)"),
        (dict(C=torch.randn(2, 2, 2, 5)), r"C must be \(batch, groups, d_state, length\) = \(2, groups, 3, 5\)"),
        (dict(B=torch.randn(2, 3, 3, 5), C=torch.randn(2, 3, 3, 5)), r"dim = 4 must be a multiple .* groups = 3"),
        (dict(C=torch.randn(2, 1, 3, 5)), "same number of groups"),
        (dict(D=torch.ones(3)), r"D must be \(dim,\) = \(4,\)"),
        (dict(delta_bias=torch.ones(4, 1)), r"delta_bias must be \(dim,\) = \(4,\)"),
        (dict(u=torch.randn(2, 4)), r"u must be \(batch, dim, length\)"),
    ],
    ids=["delta", "A", "B-length", "C-state", "groups", "B-vs-C", "D", "delta_bias", "u"],
)
def test_bad_shapes_raise_value_errors_naming_the_expected_shape(form, change, message):
    with pytest.raises(ValueError, match=message):
        form(**{**_inputs(), **change})


@pytest.mark.usefixtures("no_shapecheck")
def test_bad_chunk_size_is_named():
    with pytest.raises(ValueError, match="chunk_size must be a positive integer; got 0"):
        selective_scan_chunked(**_inputs(), chunk_size=0)


def test_shapecheck_catches_mismatched_axes():
    with pytest.raises(jaxtyping.TypeCheckError):
        selective_scan(**{**_inputs(), "delta": torch.randn(2, 4, 6)})


@pytest.mark.compile
def test_chunked_compiles_fullgraph_forward_and_backward():
    inputs = {**_inputs(length=13), "D": torch.randn(4), "delta_bias": torch.randn(4), "delta_softplus": True}
    leaves = {k: v.requires_grad_() for k, v in inputs.items() if isinstance(v, torch.Tensor)}

    def run(fn):
        out = fn(**inputs, chunk_size=4)
        return out, torch.autograd.grad((out * out.detach().cos()).sum(), list(leaves.values()))

    eager_out, eager_grads = run(selective_scan_chunked)
    compiled_out, compiled_grads = run(torch.compile(selective_scan, fullgraph=True))
    torch.testing.assert_close(compiled_out, eager_out, rtol=1e-4, atol=1e-5)
    for got, want in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.compile
def test_default_chunk_size_traces_with_symbolic_lengths():
    # A model compiled once and fed another resolution is recompiled with dynamic shapes: choosing the chunk size
    # from a symbolic length must not break the graph. backend="eager" checks the trace alone.
    compiled = torch.compile(selective_scan_chunked, fullgraph=True, dynamic=True, backend="eager")
    for length in (20, 37, 300):
        inputs = _inputs(length=length)
        torch.testing.assert_close(compiled(**inputs), selective_scan_chunked(**inputs), rtol=1e-5, atol=1e-6)


@pytest.mark.compile
def test_auto_dispatch_traces_as_one_graph():
    # impl="auto" runs inside compiled models: choosing the form (Triton availability included) must not break the
    # graph. backend="eager" checks the trace alone, without generating code.
    u = torch.randn(1, 4, 6)
    args = (u, torch.rand(1, 4, 6), -torch.rand(4, 1), torch.randn(1, 2, 1, 6), torch.randn(1, 2, 1, 6))
    compiled = torch.compile(lambda *a: selective_scan(*a, delta_softplus=True), fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(*args), selective_scan_chunked(*args, delta_softplus=True))
