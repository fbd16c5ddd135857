"""dwconv: F.conv2d's form against the sum-of-shifts definition, forward and every gradient, on dense maps and on
channel slices; autocast's dtype; bad input; the Triton kernels compiled for an H100 without one (their agreement,
forward and backward, is checked on a GPU, in test_forms_gpu.py)."""

import importlib
import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given

import vmix.testing as vt
from vmix.ops.dwconv import dwconv, dwconv_aten, dwconv_reference, dwconv_triton


def sliced(form, pad):
    """``form`` run on ``x`` as a channel slice of a wider tensor (``pad`` channels before and after)."""
    before, after = pad
    return lambda x, weight, bias: form(F.pad(x, (before, after))[..., before : before + x.shape[-1]], weight, bias)


@given(case=vt.dwconv_cases())
def test_aten_matches_reference(case):
    vt.assert_forms_agree(sliced(dwconv_aten, case.meta["pad"]), dwconv_reference, case.inputs, case.tol)


@given(case=vt.dwconv_cases(max_side=6, dtypes=(torch.float32, torch.bfloat16)))
def test_low_precision_inputs_match_float64_reference(case):
    vt.assert_forms_agree(sliced(dwconv, case.meta["pad"]), dwconv_reference, case.inputs, case.tol)


def test_reference_is_cross_correlation_with_zero_padding():
    # One nonzero tap at (s, t) = (0, 2) of a 3x3 kernel reads x[i - 1, j + 1]; outside the map it reads 0.
    x = torch.arange(12.0).reshape(1, 3, 4, 1)
    w = torch.zeros(1, 1, 3, 3)
    w[0, 0, 0, 2] = 1.0
    y = dwconv_reference(x, w)[0, :, :, 0]
    assert y.tolist() == [[0, 0, 0, 0], [1, 2, 3, 0], [5, 6, 7, 0]]


def test_matches_a_depthwise_conv2d_module():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 6, 5, padding=2, groups=6)
    x = torch.randn(2, 7, 9, 6)
    want = conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    for impl in ("auto", "aten", "reference"):
        torch.testing.assert_close(dwconv(x, conv.weight, conv.bias, impl=impl), want)


@pytest.mark.parametrize("impl", ["auto", "aten", "reference"])
def test_autocast_gives_its_dtype_and_float32_weights_stay_accepted(impl):
    x, w, b = torch.randn(1, 5, 5, 4), torch.randn(4, 1, 3, 3), torch.randn(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert dwconv(x, w, b, impl=impl).dtype == torch.bfloat16
    assert dwconv(x.bfloat16(), w, b, impl=impl).dtype == torch.bfloat16  # outside autocast: x's dtype


def test_compiles_without_graph_breaks():
    torch._dynamo.reset()
    x, w, b = torch.randn(2, 6, 5, 8), torch.randn(8, 1, 3, 3), torch.randn(8)
    compiled = torch.compile(lambda wide: dwconv(wide[..., 2:], w, b), fullgraph=True)  # a channel slice
    torch.testing.assert_close(compiled(torch.cat([x[..., :2], x], -1)), dwconv_reference(x, w, b))


@pytest.mark.parametrize(
    ("weight", "bias", "message"),
    [
        (torch.randn(4, 1, 2, 2), None, r"odd k"),
        (torch.randn(5, 1, 3, 3), None, r"\(c, 1, k, k\) with c = 4"),
        (torch.randn(4, 2, 3, 3), None, r"\(c, 1, k, k\) with c = 4"),
        (torch.randn(4, 1, 3, 3), torch.randn(3), r"expected bias \(4,\)"),
    ],
)
def test_bad_parameters_name_the_expected_shape(weight, bias, message):
    from vmix._shapecheck import set_shapecheck, shapecheck_enabled

    before = shapecheck_enabled()
    set_shapecheck(False)  # the op's own check, not jaxtyping's, is what users without the test suite see
    try:
        with pytest.raises(ValueError, match=message):
            dwconv(torch.randn(1, 5, 5, 4), weight, bias)
    finally:
        set_shapecheck(before)


def test_unknown_impl_is_named():
    with pytest.raises(ValueError, match="unknown impl 'cudnn'"):
        dwconv(torch.randn(1, 3, 3, 2), torch.randn(2, 1, 3, 3), impl="cudnn")


@pytest.mark.parametrize("impl", ["auto", "aten", "reference"])
def test_silu_activation_is_silu_of_the_convolution(impl):
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 5, 6, 8), torch.randn(8, 1, 3, 3), torch.randn(8)
    want = F.silu(dwconv_reference(x, w, b))
    torch.testing.assert_close(dwconv(x, w, b, activation="silu", impl=impl), want)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'; expected one of \(None, 'silu'\)"):
        dwconv(torch.randn(1, 3, 3, 2), torch.randn(2, 1, 3, 3), activation="gelu")


def test_triton_names_the_device_it_needs(monkeypatch):
    if dwconv_triton is None:
        pytest.skip("needs triton")
    import triton

    monkeypatch.setattr(triton.knobs.runtime, "interpret", False)
    with pytest.raises(ValueError, match="runs on a GPU; got cpu tensors"):
        dwconv(torch.randn(1, 3, 3, 2), torch.randn(2, 1, 3, 3), impl="triton")
    with pytest.raises(ValueError, match="computes in float32; for float64 inputs use impl='aten'"):
        dwconv(torch.randn(1, 3, 3, 2, dtype=torch.float64), torch.randn(2, 1, 3, 3), impl="triton")


@pytest.mark.parametrize("k", [3, 7])
@pytest.mark.parametrize("kernel", ["taps", "weight_grad"])
def test_kernels_compile_for_hopper_at_every_offered_launch_shape(kernel, k, hopper_compiler):
    # A launch shape that fails to compile fails the autotuner, and so the op, on the first GPU call; compiling
    # them here (to PTX and a cubin, no GPU needed) catches it on any machine with triton.
    triton, target, source = hopper_compiler
    kernels = importlib.import_module("vmix.ops.dwconv.triton")
    kk_pad = triton.next_power_of_2(k * k)
    if kernel == "taps":  # the input gradient's variant, and the forward's with SiLU in its store
        tuned, variants = kernels._taps, [dict(FLIP=True, SILU=False), dict(FLIP=False, SILU=True)]
    else:
        tuned, variants = kernels._weight_grad, [dict(KK_PAD=kk_pad)]
    configs = kernels._fits(tuned.configs, {}, KK_PAD=kk_pad) if kernel == "weight_grad" else tuned.configs
    for config, extra in itertools.product(configs, variants):
        constexprs = dict(extra, K=k, HAS_BIAS=True, **config.kwargs)
        signature = {}
        for name in tuned.fn.arg_names:
            if name in constexprs:
                signature[name] = "constexpr"
            elif name.endswith("_ptr"):
                signature[name] = "*bf16" if name in ("x_ptr", "y_ptr", "dy_ptr") else "*fp32"
            else:
                signature[name] = "i32"
        compiled = triton.compile(
            source(fn=tuned.fn, signature=signature, constexprs=constexprs),
            target=target,
            options=dict(num_warps=config.num_warps),
        )
        assert compiled.asm["cubin"], f"{kernel} kernel, k={k}, {config}, {extra}: no cubin"
