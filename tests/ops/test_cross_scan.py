"""cross_scan / cross_merge: the fused gathers equal the flips-and-transposes definition; merge is scan's adjoint."""

import jaxtyping
import pytest
import torch
from hypothesis import given

import vmix.testing as vt

# From the subpackage: `vmix.ops.cross_scan` the attribute is the subpackage once it is imported.
from vmix.ops.cross_scan import (
    cross_merge,
    cross_merge_fused,
    cross_merge_reference,
    cross_scan,
    cross_scan_fused,
    cross_scan_reference,
)

F64 = vt.tolerance_for(torch.float64)


def test_traversal_order_on_a_non_square_map():
    # Token (i, j) of a 2 x 3 map holds 10 i + j; spec 1.7 fixes where each direction visits it.
    x = (10 * torch.arange(2.0)[:, None] + torch.arange(3.0)).reshape(1, 2, 3, 1)
    seqs = cross_scan(x)[0, :, 0]
    assert seqs[0].tolist() == [0, 1, 2, 10, 11, 12]
    assert seqs[1].tolist() == [0, 10, 1, 11, 2, 12]
    assert seqs[2].tolist() == seqs[0].flip(0).tolist()
    assert seqs[3].tolist() == seqs[1].flip(0).tolist()


@given(case=vt.image_cases(max_side=9))
def test_fused_scan_matches_reference(case):
    vt.assert_forms_agree(cross_scan_fused, cross_scan_reference, case.inputs, F64)


@given(case=vt.image_cases(max_side=9))
def test_fused_merge_matches_reference(case):
    b, h, w, c = case.inputs["x"].shape
    y = torch.randn(b, 4, c, h * w, dtype=torch.float64)
    vt.assert_forms_agree(lambda y: cross_merge_fused(y, h, w), lambda y: cross_merge_reference(y, h, w), {"y": y}, F64)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("hw", [(1, 1), (1, 7), (5, 1), (3, 4), (6, 5)])
def test_merge_is_the_adjoint_of_scan(impl, hw):
    h, w = hw
    x = torch.randn(2, h, w, 3, dtype=torch.float64)
    y = torch.randn(2, 4, 3, h * w, dtype=torch.float64)
    lhs = (cross_scan(x, impl=impl) * y).sum()
    rhs = (x * cross_merge(y, h, w, impl=impl)).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_fused_gradients_are_the_adjoints():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(cross_scan_fused, (x,))
    y = torch.randn(2, 4, 5, 12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda y: cross_merge_fused(y, 3, 4), (y,))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="expected one of"):
        cross_scan(torch.randn(1, 2, 2, 3), impl="triton")
    with pytest.raises(ValueError, match=r"h\*w = 3\*4 = 12"):
        cross_merge(torch.randn(1, 4, 3, 10), 3, 4)
    with pytest.raises(jaxtyping.TypeCheckError):
        cross_scan(torch.randn(2, 3, 4))


@pytest.mark.compile
def test_fused_forms_compile_fullgraph():
    def roundtrip(x):
        return cross_merge(cross_scan(x).sin(), x.shape[1], x.shape[2])

    x = torch.randn(2, 3, 5, 4, requires_grad=True)
    compiled = torch.compile(roundtrip, fullgraph=True)
    out = compiled(x)
    torch.testing.assert_close(out, roundtrip(x))
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    (want,) = torch.autograd.grad(roundtrip(x).square().sum(), x)
    torch.testing.assert_close(grad, want)
