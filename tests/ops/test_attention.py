"""Every attention form against the float64 definition, forward and backward; the auto rule; bad input."""

import dataclasses

import pytest
import torch
from hypothesis import given

import vmix.testing as vt
from vmix.ops.attention import (
    attention,
    attention_flex,
    attention_reference,
    attention_sdpa,
    choose_impl,
)

# Eagerly, FlexAttention runs its unfused fallback and says so once; that is the point of these CPU tests.
eager_flex = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")


def tol(case):
    """The dtype's tolerance, judged against the unit scale of q, k, v and the upstream gradient where the reference
    is smaller.

    Gradients are differences of unit-scale terms (dS = P ⊙ (dP - rowsum(dO ⊙ O))): at length 1 dq and dk are zero
    by the math yet every form leaves rounding noise, and in bf16 a few-element dk can lose most of its digits to
    that cancellation. Errors are measured against the scale of the terms that cancel.
    """
    return dataclasses.replace(case.tol, floor=1.0)


@given(case=vt.attention_cases())
def test_sdpa_matches_reference_in_float64(case):
    vt.assert_forms_agree(attention_sdpa, attention_reference, case.inputs, tol(case))


@given(case=vt.attention_cases(dtypes=(torch.float32, torch.bfloat16)))
def test_sdpa_in_low_precision_stays_within_the_dtype_tolerance(case):
    vt.assert_forms_agree(attention_sdpa, attention_reference, case.inputs, tol(case))


@given(case=vt.attention_cases(dtypes=(torch.float64, torch.float32)))
def test_auto_matches_reference_and_trains_on_cpu(case):
    assert choose_impl(case.inputs["q"]) == "sdpa"
    vt.assert_forms_agree(attention, attention_reference, case.inputs, tol(case))


@eager_flex
@given(case=vt.attention_cases(dtypes=(torch.float64, torch.float32)))
def test_flex_forward_matches_reference(case):
    # FlexAttention has no backward on CPU: forward only. Its eager fallback is traced by Dynamo (a few seconds on
    # the first call, then shape-generic), so this costs about one compilation, not one per example.
    vt.assert_forms_agree(attention_flex, attention_reference, case.inputs, tol(case), grad=False)


@eager_flex
def test_scale_is_applied_by_every_form():
    q, k, v = torch.randn(3, 2, 3, 11, 8, dtype=torch.float64).unbind(0)
    want = attention_reference(q * 0.3 * 8**0.5, k, v)
    for impl in ("reference", "sdpa", "sdpa_efficient", "flex"):
        vt.assert_close(attention(q, k, v, scale=0.3, impl=impl), want, vt.tolerance_for(torch.float64), name=impl)


@pytest.mark.compile
def test_compiled_flex_forward_matches_reference():
    q, k, v = torch.randn(3, 1, 2, 16, 16).unbind(0)
    compiled = torch.compile(attention_flex, fullgraph=True)
    want = attention_reference(q.double(), k.double(), v.double())
    vt.assert_close(compiled(q, k, v), want, vt.tolerance_for(torch.float32))


def test_reference_is_stable_for_large_scores():
    q = torch.full((1, 1, 4, 2), 400.0, dtype=torch.float32)
    k = torch.randn(1, 1, 4, 2)
    v = torch.randn(1, 1, 4, 2)
    out = attention_reference(q, k, v)
    assert torch.isfinite(out).all()
    vt.assert_close(out, attention_sdpa(q, k, v), vt.Tolerance(rel=1e-4))


@pytest.mark.parametrize(
    "shapes",
    [
        [(2, 3, 10, 8), (2, 3, 9, 8), (2, 3, 10, 8)],  # key length differs
        [(2, 3, 10, 8), (2, 3, 10, 8), (2, 3, 10, 4)],  # value head_dim differs
        [(2, 10, 8)] * 3,  # no heads axis
    ],
)
def test_mismatched_shapes_are_a_value_error(shapes):
    q, k, v = (torch.randn(s) for s in shapes)
    with pytest.raises(ValueError, match=r"\(batch, heads, length, head_dim\)"):
        attention(q, k, v)


def test_mixed_or_integer_dtypes_and_unknown_impl_are_value_errors():
    q = torch.randn(1, 2, 5, 4)
    with pytest.raises(ValueError, match="one floating dtype"):
        attention(q, q.double(), q)
    with pytest.raises(ValueError, match="one floating dtype"):
        attention(*(torch.ones(1, 2, 5, 4, dtype=torch.int64),) * 3)
    with pytest.raises(ValueError, match="unknown attention impl 'cudnn'"):
        attention(q, q, q, impl="cudnn")
    with pytest.raises(ValueError, match="unknown backend 'fast'"):
        attention_sdpa(q, q, q, prefer="fast")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("shape", [(4, 16, 49, 32), (2, 24, 49, 32), (2, 4, 196, 24), (1, 2, 50, 8)])
def test_auto_on_cuda_infers_through_flex_and_trains_through_sdpa(shape, dtype):
    # Every parametrisation compiles the same `attend` code twice (with and without gradients): without a reset the
    # cases together pass Dynamo's recompile limit, which fullgraph=True turns into a failure.
    torch._dynamo.reset()
    chosen = []

    def attend(q, k, v):
        chosen.append(choose_impl(q, k, v))
        return attention(q, k, v)

    compiled = torch.compile(attend, fullgraph=True, dynamic=False)
    q, k, v = (t.to(device="cuda", dtype=dtype) for t in torch.randn(3, *shape).unbind(0))
    sdpa = "sdpa_efficient" if shape[-2] <= 64 else "sdpa"
    # Gradients at (2, 24, 49, 32) are where torch 2.11's compiled FlexAttention backward went wrong.
    vt.assert_forms_agree(compiled, attention_reference, {"q": q, "k": k, "v": v}, vt.tolerance_for(dtype))
    assert chosen == [sdpa]
    with torch.no_grad():
        exact = attention_reference(q.double(), k.double(), v.double())
        vt.assert_close(compiled(q, k, v), exact, vt.tolerance_for(dtype), name="inference")
    assert chosen == [sdpa, "flex" if shape[-1] >= 16 else sdpa]
    assert choose_impl(q) == sdpa  # eager calls get SDPA
