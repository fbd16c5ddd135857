"""The comparison helpers must fail when forms differ, or every property test built on them proves nothing."""

import pytest
import torch
from hypothesis import given

import vmix.testing as vt


def test_assert_close_accepts_rounding_and_rejects_a_real_difference():
    x = torch.randn(1000, dtype=torch.float64)
    vt.assert_close(x.float().double(), x, vt.tolerance_for(torch.float32))
    with pytest.raises(AssertionError, match="rel-RMS error"):
        vt.assert_close(x + 1e-3 * x.abs().mean(), x, vt.tolerance_for(torch.float32))


def test_floor_compares_tiny_references_absolutely():
    tiny = torch.full((10,), 1e-9, dtype=torch.float64)
    vt.assert_close(tiny * 2, tiny, vt.Tolerance(rel=1e-2, floor=1e-6))
    with pytest.raises(AssertionError):
        vt.assert_close(tiny * 2, tiny, vt.Tolerance(rel=1e-2, floor=0.0))


def test_nan_never_passes():
    x = torch.ones(4)
    y = x.clone()
    y[2] = float("nan")
    with pytest.raises(AssertionError):
        vt.assert_close(y, x, vt.Tolerance(rel=1.0))


def test_shape_mismatch_is_named():
    with pytest.raises(ValueError, match=r"\(3,\) vs expected \(4,\)"):
        vt.rel_rms_error(torch.ones(3), torch.ones(4))


def test_forms_agree_checks_gradients_too():
    x = torch.randn(3, 5)

    def reference(x):
        return x.cumsum(-1)

    def wrong_backward(x):  # right values, gradient cut at the last position
        return torch.cat([x[:, :-1].cumsum(-1), x.sum(-1, keepdim=True).detach()], -1)

    vt.assert_forms_agree(lambda x: x.cumsum(-1), reference, {"x": x}, vt.tolerance_for(torch.float32))
    with pytest.raises(AssertionError, match="dx"):
        vt.assert_forms_agree(wrong_backward, reference, {"x": x}, vt.tolerance_for(torch.float32))


def test_unknown_dtype_tolerance_is_a_clear_error():
    with pytest.raises(ValueError, match="no tolerance for dtype torch.int64"):
        vt.tolerance_for(torch.int64)


@given(case=vt.selective_scan_cases(max_len=40))
def test_selective_scan_cases_have_the_documented_layout(case):
    u, A, B = case.inputs["u"], case.inputs["A"], case.inputs["B"]
    batch, dim, length = u.shape
    groups = B.shape[1]
    assert case.inputs["delta"].shape == u.shape
    assert A.shape[0] == dim and (A < 0).all()
    assert B.shape == (batch, groups, A.shape[1], length) == case.inputs["C"].shape
    assert dim % groups == 0 and 1 <= length <= 40


@given(case=vt.ssd_cases(max_len=40))
def test_ssd_cases_have_the_documented_layout(case):
    x, dt, A, B = (case.inputs[k] for k in ("x", "dt", "A", "B"))
    batch, length, heads, _ = x.shape
    assert dt.shape == (batch, length, heads) and (dt > 0).all()
    assert A.shape == (heads,) and (A < 0).all()
    assert B.shape[:2] == (batch, length) and heads % B.shape[2] == 0
