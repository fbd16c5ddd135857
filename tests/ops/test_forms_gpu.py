"""Every fast form on a GPU, eager and compiled, against its reference: the CPU suite's property tests, on CUDA.

The models on the GPU run these forms through Inductor's generated Triton code, which the CPU suite never sees.
"""

import pytest
import torch
from hypothesis import given, settings

import vmix.testing as vt
from vmix.ops.cross_scan import cross_merge_fused, cross_merge_reference, cross_scan_fused, cross_scan_reference
from vmix.ops.nc_ssd import nc_ssd_linear, nc_ssd_quadratic, nc_ssd_reference
from vmix.ops.selective_scan import selective_scan_chunked, selective_scan_reference
from vmix.ops.ssd import ssd_chunked, ssd_quadratic, ssd_reference

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

LOW = (torch.float32, torch.bfloat16)
FORMS = {
    "selective_scan_chunked": (selective_scan_chunked, selective_scan_reference, vt.selective_scan_cases(dtypes=LOW)),
    "ssd_chunked": (ssd_chunked, ssd_reference, vt.ssd_cases(max_len=80, dtypes=LOW)),
    "ssd_quadratic": (ssd_quadratic, ssd_reference, vt.ssd_cases(max_len=80, dtypes=LOW)),
    "nc_ssd_linear": (nc_ssd_linear, nc_ssd_reference, vt.nc_ssd_cases(max_len=80, dtypes=LOW)),
    "nc_ssd_quadratic": (nc_ssd_quadratic, nc_ssd_reference, vt.nc_ssd_cases(max_len=80, dtypes=LOW)),
    "cross_scan_fused": (cross_scan_fused, cross_scan_reference, vt.image_cases(dtypes=LOW)),
}
# Forms that round each term of a sum to bf16 (16-bit matrix products): for bf16 inputs their error is measured
# against the sums of the terms' magnitudes (vt.assert_forms_agree's `magnitudes`), as in the CPU suite.
BF16_MAGNITUDES = {"nc_ssd_linear": ("x", "B", "C", "D")}


def _cuda(inputs: dict) -> dict:
    return {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", sorted(FORMS))
def test_fast_form_matches_reference_on_cuda(name, compiled):
    fast, reference, cases = FORMS[name]
    torch._dynamo.reset()
    form = torch.compile(fast, fullgraph=True, dynamic=True) if compiled else fast

    @settings(max_examples=4 if compiled else 12, deadline=None)
    @given(case=cases)
    def check(case):
        low = case.inputs.get("x") is not None and case.inputs["x"].dtype == torch.bfloat16
        magnitudes = BF16_MAGNITUDES.get(name, ()) if low else ()
        vt.assert_forms_agree(form, reference, _cuda(case.inputs), case.tol, magnitudes=magnitudes)

    check()


@settings(max_examples=12, deadline=None)
@given(case=vt.image_cases(dtypes=LOW))
def test_fused_merge_matches_reference_on_cuda(case):
    b, h, w, c = case.inputs["x"].shape
    y = torch.randn(b, 4, c, h * w, device="cuda").to(case.inputs["x"].dtype)
    vt.assert_forms_agree(
        lambda y: cross_merge_fused(y, h, w), lambda y: cross_merge_reference(y, h, w), {"y": y}, case.tol
    )


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("grad", [True, False], ids=["fwd+bwd (d_state 1)", "fwd (any d_state)"])
def test_fused_ss2d_core_matches_reference_on_cuda(grad, compiled):
    from vmix.ops.ss2d_core import ss2d_core_fused, ss2d_core_reference

    if ss2d_core_fused is None:
        pytest.skip("needs triton")
    torch._dynamo.reset()
    form = torch.compile(ss2d_core_fused, fullgraph=True) if compiled else ss2d_core_fused
    max_state = {"max_state": 1} if grad else {}  # the backward takes d_state 1; inference any

    @settings(max_examples=4 if compiled else 20, deadline=None)
    @given(case=vt.ss2d_core_cases(max_side=40, max_dim=80, dtypes=LOW, **max_state))
    def check(case):
        vt.assert_forms_agree(form, ss2d_core_reference, _cuda(case.inputs), case.tol, grad=grad)

    check()


def test_ss2d_takes_the_fused_core_unless_it_cannot_train_it():
    import importlib
    from unittest import mock

    from vmix import SS2D

    core = importlib.import_module("vmix.ops.ss2d_core")  # the module: vmix.ops.ss2d_core as an attribute is the op

    if core.ss2d_core_fused is None:
        pytest.skip("needs triton")
    torch.manual_seed(0)
    x = torch.randn(2, 13, 11, 48, device="cuda")
    patched = mock.patch.object(core, "ss2d_core_fused", wraps=core.ss2d_core_fused)
    with patched as fused_core, torch.autocast("cuda", dtype=torch.bfloat16):
        layer = SS2D(48).cuda()
        fused = layer(x)  # d_state 1: trains through the fused core
        assert fused_core.call_count == 1
        wide = SS2D(48, d_state=2).cuda()
        wide(x)  # no fused backward for d_state 2: the composed core while gradients are wanted
        assert fused_core.call_count == 1
        with torch.no_grad():
            wide(x)
        assert fused_core.call_count == 2
        composed = SS2D(48, scan_impl="triton").cuda()
        composed.load_state_dict(layer.state_dict())
        want = composed(x)
    vt.assert_close(fused.detach().float(), want.detach().float(), vt.TOLERANCES[torch.bfloat16], name="SS2D fused")


def test_ss2d_trains_through_the_fused_core_as_through_the_composed_one():
    from vmix import SS2D
    from vmix.ops.ss2d_core import ss2d_core_fused

    if ss2d_core_fused is None:
        pytest.skip("needs triton")
    torch.manual_seed(0)
    composed = SS2D(40, scan_impl="triton").cuda()
    fused = SS2D(40, scan_impl="fused").cuda()
    fused.load_state_dict(composed.state_dict())
    x = torch.randn(2, 9, 14, 40, device="cuda")
    upstream = torch.randn(2, 9, 14, 40, device="cuda")
    grads = {}
    for name, layer in (("composed", composed), ("fused", fused)):
        (layer(x) * upstream).sum().backward()
        grads[name] = {n: p.grad for n, p in layer.named_parameters()}
    vt.assert_close(grads["fused"], grads["composed"], vt.TOLERANCES[torch.float32], name="SS2D parameter gradients")


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_dwconv_kernels_match_reference_on_cuda(compiled):
    import torch.nn.functional as F

    from vmix.ops.dwconv import dwconv_reference, dwconv_triton

    if dwconv_triton is None:
        pytest.skip("needs triton")
    torch._dynamo.reset()

    # Every new map shape autotunes the kernels and every kernel size compiles them again: few, varied examples.
    @settings(max_examples=3 if compiled else 10, deadline=None)
    @given(case=vt.dwconv_cases(max_side=40, max_dim=80, kernel_sizes=(1, 3, 7), dtypes=LOW))
    def check(case):
        before, after = case.meta["pad"]

        def form(x, weight, bias):  # on a channel slice of a wider tensor, as the layers call it
            return dwconv_triton(F.pad(x, (before, after))[..., before : before + x.shape[-1]], weight, bias)

        vt.assert_forms_agree(
            torch.compile(form, fullgraph=True) if compiled else form, dwconv_reference, _cuda(case.inputs), case.tol
        )

    check()


def test_dwconv_kernel_with_silu_matches_silu_of_the_reference_on_cuda():
    import torch.nn.functional as F

    from vmix.ops.dwconv import dwconv_reference, dwconv_triton

    if dwconv_triton is None:
        pytest.skip("needs triton")

    @settings(max_examples=6, deadline=None)
    @given(case=vt.dwconv_cases(max_side=40, max_dim=80, kernel_sizes=(1, 3), dtypes=LOW))
    def check(case):
        vt.assert_forms_agree(
            lambda x, weight, bias: dwconv_triton(x, weight, bias, activation="silu"),
            lambda x, weight, bias: F.silu(dwconv_reference(x, weight, bias)),
            _cuda(case.inputs),
            case.tol,
        )

    check()


def test_dwconv_under_autocast_reads_float32_maps_and_gives_bf16():
    from vmix.ops.dwconv import dwconv, dwconv_reference

    torch.manual_seed(0)
    x = torch.randn(3, 17, 23, 40, device="cuda", requires_grad=True)
    w = torch.randn(40, 1, 3, 3, device="cuda", requires_grad=True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = dwconv(x, w)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert x.grad.dtype == torch.float32 and w.grad.dtype == torch.float32
    want = dwconv_reference(x.detach().double(), w.detach().double())
    vt.assert_close(y.detach().double(), want, vt.TOLERANCES[torch.bfloat16], name="dwconv under autocast")


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_mlp_kernel_matches_reference_on_cuda(compiled):
    from vmix.ops.mlp import mlp_reference, mlp_triton

    if mlp_triton is None:
        pytest.skip("needs triton")
    torch._dynamo.reset()
    form = torch.compile(mlp_triton, fullgraph=True) if compiled else mlp_triton

    # Every new (width, hidden) pair autotunes the kernel: few, varied examples; widths to the kernel's limit.
    @settings(max_examples=2 if compiled else 6, deadline=None)
    @given(case=vt.mlp_cases(max_rows=300, max_dim=256, max_hidden=700, dtypes=LOW))
    def check(case):
        vt.assert_forms_agree(form, mlp_reference, _cuda(case.inputs), case.tol)

    check()


def test_mlp_auto_takes_the_kernel_for_inference_under_autocast():
    import importlib
    from unittest import mock

    from vmix.layers import Mlp

    ops = importlib.import_module("vmix.ops.mlp")
    if ops.mlp_triton is None:
        pytest.skip("needs triton")
    torch.manual_seed(0)
    layer = Mlp(96, 384).cuda()
    torch.nn.init.normal_(layer.fc1.bias, std=0.5)  # zero biases would not be checked
    torch.nn.init.normal_(layer.fc2.bias, std=0.5)
    x = torch.randn(3, 7, 9, 96, device="cuda")
    params = [p.detach().double() for p in (layer.fc1.weight, layer.fc1.bias, layer.fc2.weight, layer.fc2.bias)]
    want = ops.mlp_reference(x.double(), *params)
    with mock.patch.object(ops, "mlp_triton", wraps=ops.mlp_triton) as kernel:
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            y = layer(x)
        assert kernel.call_count == 1 and y.dtype == torch.bfloat16
        with torch.autocast("cuda", dtype=torch.bfloat16):
            layer(x).float().sum().backward()  # training: the unfused layers
        assert kernel.call_count == 1 and layer.fc1.weight.grad is not None
    vt.assert_close(y.double(), want, vt.TOLERANCES[torch.bfloat16], name="Mlp under autocast, no_grad")
