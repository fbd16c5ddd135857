"""SS2D's core: the composed form against the definition, forward and every gradient; bad input; the fused form's
limits, and its kernels compiled for an H100 without one (its agreement, forward and backward, is checked on a GPU,
in test_forms_gpu.py)."""

import pytest
import torch
from hypothesis import given

import vmix.testing as vt
from vmix.ops.ss2d_core import ss2d_core, ss2d_core_composed, ss2d_core_fused, ss2d_core_reference


@given(case=vt.ss2d_core_cases())
def test_composed_matches_reference(case):
    vt.assert_forms_agree(ss2d_core_composed, ss2d_core_reference, case.inputs, case.tol)


@given(case=vt.ss2d_core_cases(max_side=5, dtypes=(torch.float32, torch.bfloat16)))
def test_low_precision_inputs_match_float64_reference(case):
    vt.assert_forms_agree(ss2d_core, ss2d_core_reference, case.inputs, case.tol)


def test_one_token_is_the_skip_plus_one_step_of_each_direction():
    # A 1×1 map: every direction sees the one token, so y = Σ_k (C_k·B_k Δ_k + D_k) u.
    torch.manual_seed(0)
    e, r, n = 3, 2, 1
    z, x_dbl = torch.randn(1, 1, 1, e, dtype=torch.float64), torch.randn(1, 4, r + 2 * n, 1, dtype=torch.float64)
    w, bias = torch.randn(4, e, r, dtype=torch.float64), torch.randn(4, e, dtype=torch.float64)
    A, D = -torch.rand(4 * e, n, dtype=torch.float64), torch.randn(4 * e, dtype=torch.float64)
    dt_low, B, C = x_dbl[0, :, :r, 0], x_dbl[0, :, r, 0], x_dbl[0, :, r + 1, 0]  # (4, r), (4,), (4,)
    delta = torch.nn.functional.softplus(torch.einsum("kr,ker->ke", dt_low, w) + bias)  # (4, e)
    expected = ((C * B)[:, None] * delta + D.view(4, e)).sum(0) * z[0, 0, 0]
    for impl in ("composed", "reference"):
        torch.testing.assert_close(ss2d_core(z, x_dbl, w, bias, A, D, impl=impl)[0, 0, 0], expected)


def _inputs(b=1, h=2, w=3, e=4, r=2, n=1):
    return dict(
        z=torch.randn(b, h, w, e),
        x_dbl=torch.randn(b, 4, r + 2 * n, h * w),
        dt_weight=torch.randn(4, e, r),
        dt_bias=torch.randn(4, e),
        A=-torch.rand(4 * e, n),
        D=torch.randn(4 * e),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x_dbl": torch.randn(1, 4, 3, 6)}, r"x_dbl must have shape \(1, 4, 4, 6\)"),
        ({"dt_weight": torch.randn(4, 5, 2)}, r"dt_weight must be \(4, 4, dt_rank\)"),
        ({"A": -torch.rand(12, 1)}, r"A must be \(16, d_state\)"),
        ({"D": torch.randn(4)}, r"D must have shape \(16,\)"),
    ],
)
def test_bad_shapes_name_the_expected_one(change, message):
    from vmix._shapecheck import set_shapecheck, shapecheck_enabled

    before = shapecheck_enabled()
    set_shapecheck(False)  # the core's own check, not jaxtyping's, is what users without the test suite see
    try:
        with pytest.raises(ValueError, match=message):
            ss2d_core(**{**_inputs(), **change})
    finally:
        set_shapecheck(before)


def test_unknown_impl_is_named():
    with pytest.raises(ValueError, match="unknown impl 'cuda'"):
        ss2d_core(**_inputs(), impl="cuda")


@pytest.mark.skipif(ss2d_core_fused is not None, reason="triton is installed")
def test_fused_without_triton_says_so():
    with pytest.raises(ImportError, match="needs triton"):
        ss2d_core(**_inputs(), impl="fused")


@pytest.mark.skipif(ss2d_core_fused is None, reason="needs triton")
def test_fused_names_the_device_it_needs(monkeypatch):
    import triton

    monkeypatch.setattr(triton.knobs.runtime, "interpret", False)
    with pytest.raises(ValueError, match="runs on a GPU; got cpu tensors"):
        ss2d_core_fused(**_inputs())


@pytest.mark.skipif(ss2d_core_fused is None, reason="needs triton")
def test_fused_trains_with_one_state_and_refuses_float64():
    inputs = _inputs(n=2)
    inputs["z"].requires_grad_()
    with pytest.raises(ValueError, match="backward takes d_state 1; got d_state 2"):
        ss2d_core_fused(**inputs)
    with pytest.raises(ValueError, match="float64"):
        ss2d_core_fused(**{k: v.detach().double() for k, v in inputs.items()})


@given(case=vt.ss2d_core_cases(max_side=5, dtypes=(torch.float32,)))
def test_bf16_maps_with_float32_parameters_as_autocast_gives_them(case):
    inputs = {**case.inputs, "z": case.inputs["z"].bfloat16(), "x_dbl": case.inputs["x_dbl"].bfloat16()}
    want = ss2d_core_reference(**{k: v.double() for k, v in inputs.items()})
    vt.assert_close(ss2d_core(**inputs), want, vt.TOLERANCES[torch.bfloat16])


@pytest.mark.skipif(ss2d_core_fused is None, reason="needs triton")
@pytest.mark.parametrize("kernel", ["forward", "backward"])
def test_fused_kernels_compile_for_hopper_at_every_offered_launch_shape(kernel, hopper_compiler):
    # A launch shape that fails to compile fails the autotuner, and so the op, on the first GPU call; compiling
    # them here (to PTX and a cubin, no GPU needed) catches it on any machine with triton.
    import importlib

    triton, target, source = hopper_compiler
    fused = importlib.import_module("vmix.ops.ss2d_core.triton")
    tuned = {"forward": fused._fwd_tuned, "backward": fused._bwd_tuned}[kernel]
    fn = tuned.fn
    variants = [  # (x_dbl dtype, dt rank R, R_PAD, extra constexprs): VMamba-T's stages 1 and 4, bf16 and float32
        ("bf16", 6, 16, dict(F32_DOT=False, EVEN_L=True)),  # 56² tokens: whole tiles
        ("fp32", 48, 64, dict(F32_DOT=True, EVEN_L=False)),  # 7² tokens: a partial tile
    ]
    if kernel == "forward":
        variants = [(dt, r, pad, dict(extra, N=1, SAVE_STATES=True)) for dt, r, pad, extra in variants]
    for config in tuned.configs:
        for dtype, r, r_pad, extra in variants:
            constexprs = dict(extra, R=r, R_PAD=r_pad, FAST=True, BLOCK_L=fused._BLOCK_L, **config.kwargs)
            signature = {}
            for name in fn.arg_names:
                if name in constexprs:
                    signature[name] = "constexpr"
                elif name == "order_ptr":
                    signature[name] = "*i32"
                elif name.endswith("_ptr"):
                    signature[name] = f"*{dtype}" if name in ("z_ptr", "xdbl_ptr", "w_ptr") else "*fp32"
                else:
                    signature[name] = "i32"
            compiled = triton.compile(
                source(fn=fn, signature=signature, constexprs=constexprs),
                target=target,
                options=dict(num_warps=config.num_warps),
            )
            assert compiled.asm["cubin"], f"{kernel} kernel, {config}, {dtype}: no cubin"
