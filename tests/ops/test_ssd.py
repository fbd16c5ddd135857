"""The causal SSD: quadratic and chunked forms against the recurrence, forward and every input gradient."""

from functools import partial

import jaxtyping
import pytest
import torch
from hypothesis import given

import vmix.testing as vt
from vmix._opcount import pop_counter, push_counter
from vmix._shapecheck import set_shapecheck, shapecheck_enabled
from vmix.ops.ssd import ssd, ssd_chunked, ssd_quadratic, ssd_reference
from vmix.ops.ssd.quadratic import segsum


@given(case=vt.ssd_cases(max_len=64))
def test_quadratic_matches_reference(case):
    vt.assert_forms_agree(ssd_quadratic, ssd_reference, case.inputs, case.tol)


@given(case=vt.ssd_cases(max_len=64))
def test_chunked_matches_reference_for_any_chunk_size(case):
    # Chunk size 1, the drawn one (often not dividing the length) and one longer than most lengths.
    for chunk_size in (1, case.chunk_size, 80):
        vt.assert_forms_agree(partial(ssd_chunked, chunk_size=chunk_size), ssd_reference, case.inputs, case.tol)


@given(case=vt.ssd_cases(max_len=1, max_batch=1))
def test_single_token_is_the_first_step_of_the_recurrence(case):
    x, dt, A, B, C, D = (case.inputs[k] for k in ("x", "dt", "A", "B", "C", "D"))
    heads, groups = x.shape[2], B.shape[2]
    group_of_head = torch.arange(heads) // (heads // groups)
    cb = (C[:, :, group_of_head] * B[:, :, group_of_head]).sum(-1)  # (b, l, h)
    expected = (cb * dt)[..., None] * x + (0 if D is None else D[:, None] * x)
    for impl in ("chunked", "quadratic", "reference"):
        vt.assert_close(ssd(**case.inputs, impl=impl), expected, case.tol)


@given(case=vt.ssd_cases(max_len=48, dtypes=(torch.float32, torch.bfloat16)))
def test_low_precision_inputs_match_float64_reference(case):
    # Tolerances of vmix.testing: float32 rel-RMS 2e-4 (floor 1e-6), bfloat16 2e-2 (floor 1e-3), outputs and grads.
    vt.assert_forms_agree(partial(ssd, chunk_size=case.chunk_size), ssd_reference, case.inputs, case.tol)
    assert ssd(**case.inputs).dtype == case.inputs["x"].dtype


def test_segsum_is_stable_for_strong_decays():
    a = torch.full((200,), -50.0, dtype=torch.float32, requires_grad=True)
    decay = torch.exp(segsum(a))
    assert torch.equal(decay.diagonal(), torch.ones(200))
    assert decay.triu(1).abs().sum() == 0
    decay.sum().backward()
    assert torch.isfinite(a.grad).all()


def test_chunked_handles_decays_that_underflow_float32():
    # dt·A summed over a chunk reaches -1e4: exp underflows to 0 and must not turn into NaN (inf - inf).
    gen = torch.Generator().manual_seed(0)
    x, dt = torch.randn(1, 40, 2, 3, generator=gen), torch.full((1, 40, 2), 30.0)
    B, C = torch.randn(1, 40, 1, 4, generator=gen), torch.randn(1, 40, 1, 4, generator=gen)
    A = torch.full((2,), -10.0)
    ref = ssd_reference(x.double(), dt.double(), A.double(), B.double(), C.double())
    vt.assert_close(ssd_chunked(x, dt, A, B, C, chunk_size=16), ref, vt.tolerance_for(torch.float32))


def test_public_op_reports_itself_to_an_active_counter():
    calls = []

    class Recorder:
        def op(self, name, fn, args, kwargs):
            calls.append(name)
            return fn(*args, **kwargs)

    x = torch.randn(1, 4, 2, 3)
    push_counter(Recorder())
    try:
        ssd(x, torch.rand(1, 4, 2), -torch.ones(2), torch.randn(1, 4, 1, 5), torch.randn(1, 4, 1, 5))
    finally:
        pop_counter()
    assert calls == ["ssd"]


@pytest.fixture
def unchecked():
    """The ValueErrors are what users see when shape checking is off (its default outside the test suite)."""
    was = shapecheck_enabled()
    set_shapecheck(False)
    yield
    set_shapecheck(was)


def _args(length=6, heads=4, groups=2, dt_length=None, A_shape=None):
    return (
        torch.randn(2, length, heads, 3),
        torch.rand(2, dt_length or length, heads),
        -torch.rand(*(A_shape or (heads,))),
        torch.randn(2, length, groups, 5),
        torch.randn(2, length, groups, 5),
    )


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (_args(heads=3, groups=2), {}, r"heads \(3\) must be divisible by groups \(2"),
        (_args(dt_length=5), {}, r"dt must have shape \(batch, length, heads\) = \(2, 6, 4\)"),
        (_args(A_shape=(4, 1)), {}, r"A must be 1-D of shape \(heads,\) = \(4,\)"),
        (_args(A_shape=(3,)), {}, r"A must be 1-D of shape \(heads,\) = \(4,\)"),
        (_args(), {"impl": "fused"}, r"unknown impl 'fused'; expected one of 'auto', 'chunked', 'quadratic'"),
        (_args(), {"chunk_size": 0}, r"chunk_size must be an integer >= 1; got 0"),
    ],
    ids=["heads-groups", "length", "A-2d", "A-size", "impl", "chunk"],
)
def test_bad_input_names_the_expectation(unchecked, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ssd(*args, **kwargs)


def test_shape_checking_catches_mismatched_lengths_first():
    with pytest.raises(jaxtyping.TypeCheckError):
        ssd(*_args(dt_length=5))
