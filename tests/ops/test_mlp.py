"""mlp: the aten form against the definition, forward and every gradient; autocast's dtype; the layer's two paths;
bad input; the Triton kernel compiled for an H100 without one (its agreement, forward and backward, is checked on a
GPU, in test_forms_gpu.py)."""

import importlib

import pytest
import torch
from hypothesis import given

import vmix.testing as vt
from vmix.layers import Mlp
from vmix.ops.mlp import mlp, mlp_aten, mlp_reference, mlp_triton


@given(case=vt.mlp_cases())
def test_aten_matches_reference(case):
    vt.assert_forms_agree(mlp_aten, mlp_reference, case.inputs, case.tol)


@given(case=vt.mlp_cases(max_rows=9, dtypes=(torch.float32, torch.bfloat16)))
def test_low_precision_inputs_match_float64_reference(case):
    vt.assert_forms_agree(mlp, mlp_reference, case.inputs, case.tol)


def test_reference_uses_the_exact_gelu():
    x = torch.tensor([[-1.0, 0.5, 2.0]], dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(mlp_reference(x, eye, None, eye, None), torch.nn.functional.gelu(x))


@pytest.mark.parametrize("impl", ["auto", "aten", "reference"])
def test_autocast_gives_its_dtype_and_float32_weights_stay_accepted(impl):
    layer = Mlp(4, 16)
    params = (layer.fc1.weight, layer.fc1.bias, layer.fc2.weight, layer.fc2.bias)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert mlp(torch.randn(2, 3, 4), *params, impl=impl).dtype == torch.bfloat16
    assert mlp(torch.randn(2, 3, 4).bfloat16(), *params, impl=impl).dtype == torch.bfloat16  # x's dtype


def test_layer_runs_the_op_with_the_exact_gelu_and_its_modules_otherwise():
    from unittest import mock

    import torch.nn.functional as F

    layers = importlib.import_module("vmix.layers.mlp")
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6, 8)
    exact = Mlp(8, 24)
    tanh = Mlp(8, 24, act_layer=lambda: torch.nn.GELU(approximate="tanh"))
    tanh.load_state_dict(exact.state_dict())
    module_calls = []
    for layer in (exact, tanh):
        layer.fc1.register_forward_hook(lambda module, *args: module_calls.append(module))
    with mock.patch.object(layers, "mlp", wraps=layers.mlp) as op:
        got_exact, got_tanh = exact(x), tanh(x)
    assert op.call_count == 1 and module_calls == [tanh.fc1]  # the op for the exact GELU, the modules for tanh
    w1, b1, w2, b2 = exact.fc1.weight, exact.fc1.bias, exact.fc2.weight, exact.fc2.bias
    torch.testing.assert_close(got_exact, F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2))
    torch.testing.assert_close(got_tanh, F.linear(F.gelu(F.linear(x, w1, b1), approximate="tanh"), w2, b2))


def test_compiles_without_graph_breaks():
    torch._dynamo.reset()
    layer = Mlp(8, 32)
    x = torch.randn(2, 7, 8)
    torch.testing.assert_close(torch.compile(layer, fullgraph=True)(x), layer(x))


@pytest.mark.parametrize(
    ("w1", "b1", "w2", "b2", "message"),
    [
        ((16, 5), None, (4, 16), None, r"fc1_weight \(hidden, c\) and fc2_weight \(c, hidden\) with c = 4"),
        ((16, 4), None, (4, 12), None, r"got \(16, 4\) and \(4, 12\)"),
        ((16, 4), (15,), (4, 16), None, r"expected fc1_bias \(16,\)"),
        ((16, 4), None, (4, 16), (5,), r"expected fc2_bias \(4,\)"),
    ],
)
def test_bad_parameters_name_the_expected_shape(w1, b1, w2, b2, message):
    from vmix._shapecheck import set_shapecheck, shapecheck_enabled

    before = shapecheck_enabled()
    set_shapecheck(False)  # the op's own check, not jaxtyping's, is what users without the test suite see
    try:
        with pytest.raises(ValueError, match=message):
            mlp(torch.randn(3, 4), torch.randn(w1), b1 and torch.randn(b1), torch.randn(w2), b2 and torch.randn(b2))
    finally:
        set_shapecheck(before)


def test_unknown_impl_is_named():
    with pytest.raises(ValueError, match="unknown impl 'fused'"):
        mlp(torch.randn(3, 2), torch.randn(4, 2), None, torch.randn(2, 4), None, impl="fused")


def test_auto_runs_aten_on_the_cpu_and_while_training():
    from unittest import mock

    ops = importlib.import_module("vmix.ops.mlp")
    params = (torch.randn(8, 4, requires_grad=True), None, torch.randn(4, 8), None)
    with mock.patch.object(ops, "mlp_aten", wraps=ops.mlp_aten) as aten:
        mlp(torch.randn(3, 4), *params)
        assert aten.call_count == 1
    assert not ops._kernel_applies(torch.randn(3, 4), *params)  # on the CPU
    meta = torch.randn(3, 4, device="meta")
    assert not ops._kernel_applies(meta, torch.randn(8, 4, device="meta"), None, torch.randn(4, 8, device="meta"), None)


def test_triton_names_what_it_needs(monkeypatch):
    if mlp_triton is None:
        pytest.skip("needs triton")
    import triton

    params = (torch.randn(8, 4), None, torch.randn(4, 8), None)
    monkeypatch.setattr(triton.knobs.runtime, "interpret", False)
    with pytest.raises(ValueError, match="runs on a GPU; got cpu tensors"):
        mlp(torch.randn(3, 4), *params, impl="triton")
    with pytest.raises(ValueError, match="for float64 inputs use impl='aten'"):
        mlp(torch.randn(3, 4, dtype=torch.float64), *params, impl="triton")
    monkeypatch.setattr(triton.knobs.runtime, "interpret", True)
    with pytest.raises(ValueError, match=r"takes up to 256 channels; got 300 \(use impl='aten'\)"):
        mlp(torch.randn(3, 300), torch.randn(8, 300), None, torch.randn(300, 8), None, impl="triton")


H100_SHARED_MEMORY = 232448
"""Bytes of shared memory one H100 block may take (227 KiB); a kernel that needs more cannot launch there."""


@pytest.mark.parametrize(
    ("kernel", "c", "x_dtype", "w_dtype"),
    [
        ("forward", 64, "bf16", "bf16"),
        ("forward", 96, "bf16", "fp32"),
        ("forward", 192, "bf16", "bf16"),
        ("forward", 256, "bf16", "bf16"),
        ("forward", 256, "bf16", "fp32"),
        ("forward", 256, "fp32", "fp32"),
        ("backward", 64, "bf16", "bf16"),
        ("backward", 96, "bf16", "bf16"),
        ("backward", 192, "bf16", "bf16"),
        ("backward", 256, "bf16", "bf16"),
        ("backward", 256, "fp32", "fp32"),
    ],
)
def test_kernels_compile_and_fit_an_h100_at_their_launch_shape(kernel, c, x_dtype, w_dtype, hopper_compiler):
    # A launch shape that fails to compile, or needs more shared memory than an H100 block has, fails the op on its
    # first GPU call; compiling it here (to PTX and a cubin, no GPU needed) catches both on any machine with triton.
    # The forward takes float32 parameters as they come (mlp_triton under autocast); the backward gets everything in
    # the products' dtype. Float32 inputs mean full float32 products, which "auto" never runs.
    triton, target, source = hopper_compiler
    kernels = importlib.import_module("vmix.ops.mlp.triton")
    fn = kernels._mlp_kernel if kernel == "forward" else kernels._mlp_bwd_kernel
    meta = dict(C=c, C_PAD=triton.next_power_of_2(c), HAS_B1=True, F32_DOT=x_dtype == "fp32")
    if kernel == "forward":
        meta["HAS_B2"] = True
    config = kernels._launch_config(c, 4 if "fp32" in (x_dtype, w_dtype) else 2, backward=kernel == "backward")
    constexprs = dict(meta, **config.kwargs)
    signature = {}
    for name in fn.arg_names:
        if name in constexprs:
            signature[name] = "constexpr"
        elif name.endswith("_ptr"):
            signature[name] = (
                f"*{x_dtype}" if name in ("x_ptr", "y_ptr", "dy_ptr", "dh_ptr", "g_ptr") else f"*{w_dtype}"
            )
        else:
            signature[name] = "i32"
    # At run time Triton specializes pointers and integers divisible by 16 (the models' are), and only with that
    # knowledge does it pipeline the loads, which is what fills shared memory: compile with it, as the GPU will.
    aligned = {(i,): [["tt.divisibility", 16]] for i, name in enumerate(fn.arg_names) if name not in constexprs}
    compiled = triton.compile(
        source(fn=fn, signature=signature, constexprs=constexprs, attrs=aligned),
        target=target,
        options=dict(num_warps=config.num_warps, num_stages=config.num_stages),
    )
    assert compiled.asm["cubin"], f"{kernel}, c={c}, {x_dtype}/{w_dtype}, {config}: no cubin"
    assert compiled.metadata.shared <= H100_SHARED_MEMORY, (
        f"{kernel}, c={c}, {x_dtype}/{w_dtype}, {config}: {compiled.metadata.shared} bytes of shared memory"
    )
