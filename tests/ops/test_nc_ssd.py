"""The non-causal SSD: its forms against the bidirectional recurrence, and the identities VSSD derives it from."""

import pytest
import torch
from einops import rearrange, repeat
from hypothesis import given

import vmix.testing as vt
from vmix._shapecheck import set_shapecheck, shapecheck_enabled
from vmix.ops.nc_ssd import nc_ssd, nc_ssd_linear, nc_ssd_quadratic, nc_ssd_reference
from vmix.ops.ssd import ssd

F64 = vt.tolerance_for(torch.float64)


def _inputs(batch=2, length=30, heads=4, head_dim=3, groups=2, d_state=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    f64 = dict(generator=gen, dtype=torch.float64)
    return dict(
        x=torch.randn(batch, length, heads, head_dim, **f64),
        dt=torch.nn.functional.softplus(torch.randn(batch, length, heads, **f64) - 2.0),
        A=-torch.rand(heads, **f64) * 4,
        B=torch.randn(batch, length, groups, d_state, **f64) / length**0.25,
        C=torch.randn(batch, length, groups, d_state, **f64) / length**0.25,
        D=torch.randn(heads, **f64),
    )


@pytest.mark.parametrize("form", [nc_ssd_quadratic, nc_ssd_linear], ids=["quadratic", "linear"])
@given(case=vt.nc_ssd_cases(max_len=64))
def test_form_matches_bidirectional_recurrence(form, case):
    vt.assert_forms_agree(form, nc_ssd_reference, case.inputs, case.tol)


@given(case=vt.nc_ssd_cases(max_len=48, dtypes=(torch.float32, torch.bfloat16)))
def test_low_precision_inputs_match_float64_reference(case):
    # Tolerances of vmix.testing: float32 rel-RMS 2e-4 (floor 1e-4), bfloat16 2e-2 (floor 1e-3), outputs and grads.
    # bf16 contractions round x·m, S, C S and their gradients to bf16: errors of a few 2^-8 times the sums' terms,
    # which exceed 2e-2 of a result whose terms cancel (up to 1.0 on 3000 draws). Measured against the same sums
    # with every term positive (|x|, |B|, |C|, |D|, |upstream|) they stay below 9e-3.
    inputs = case.inputs
    assert nc_ssd(**inputs).dtype == inputs["x"].dtype
    low = ("x", "B", "C", "D") if inputs["x"].dtype == torch.bfloat16 else ()
    vt.assert_forms_agree(nc_ssd, nc_ssd_reference, inputs, case.tol, magnitudes=low)


def test_bfloat16_inputs_round_x_m_the_state_and_the_output_once():
    # README, Numerics: x·m from float32 rounded to bf16, S and C S out of the GEMMs in bf16, skip added in float32.
    inputs = {k: v.to(torch.bfloat16) for k, v in _inputs(length=200, head_dim=8, d_state=16).items()}
    x, dt, A, B, C, D = (inputs[k].double() for k in ("x", "dt", "A", "B", "C", "D"))
    B, C = (repeat(t, "b l g n -> b l (r g) n", r=x.shape[2] // t.shape[2]) for t in (B, C))

    def bf16(t):
        return t.to(torch.bfloat16).double()

    state = bf16(torch.einsum("blhn,blhp->bhnp", B, bf16(x * (dt * -A)[..., None])))
    expected = bf16(bf16(torch.einsum("blhn,bhnp->blhp", C, state)) + D[:, None] * x)
    tol = vt.Tolerance(rel=5e-4)  # bit-identical here; rounding elsewhere, or not at all, is off by 2.6e-3 or more
    vt.assert_close(nc_ssd(**inputs), expected, tol)
    exact = nc_ssd_reference(**{k: v.double() for k, v in inputs.items()})
    assert vt.rel_rms_error(bf16(exact), expected) > 5 * tol.rel  # a float32 computation fails this test


@given(case=vt.nc_ssd_cases(max_len=32))
def test_permuting_tokens_permutes_the_output(case):
    inputs = case.inputs
    perm = torch.randperm(inputs["x"].shape[1], generator=torch.Generator().manual_seed(1))
    permuted = {k: v[:, perm] if k in ("x", "dt", "B", "C") else v for k, v in inputs.items()}
    vt.assert_close(nc_ssd(**permuted), nc_ssd(**inputs)[:, perm], F64)


@given(case=vt.nc_ssd_cases(max_len=32))
def test_linear_in_x(case):
    inputs = case.inputs
    x1, x2 = inputs["x"], torch.randn_like(inputs["x"])
    combined = nc_ssd(**{**inputs, "x": 2.5 * x1 - 0.5 * x2})
    vt.assert_close(combined, 2.5 * nc_ssd(**inputs) - 0.5 * nc_ssd(**{**inputs, "x": x2}), F64)


@given(case=vt.nc_ssd_cases(max_len=1))
def test_single_token_closed_form(case):
    x, dt, A, B, C, D = (case.inputs[k] for k in ("x", "dt", "A", "B", "C", "D"))
    heads, groups = x.shape[2], B.shape[2]
    group_of_head = torch.arange(heads) % groups
    cb = (C[:, :, group_of_head] * B[:, :, group_of_head]).sum(-1)
    expected = (cb * dt * -A)[..., None] * x + (0 if D is None else D[:, None] * x)
    for impl in ("linear", "quadratic", "reference"):
        vt.assert_close(nc_ssd(**case.inputs, impl=impl), expected, F64)


def _unit_decay_scans(x, dt, A, B, C, subtract_own_term):
    """VSSD Eq. 7-8 through the causal op: forward and reversed unit-decay scans with input weight m = dt·(−A)."""
    groups = B.shape[2]
    # ssd reads group j // (heads // groups), nc_ssd group j % groups: reorder the heads so both read the same one.
    to_ssd = "b l (r g) ... -> b l (g r) ..."
    xs, m = rearrange(x, to_ssd, g=groups), rearrange(dt * -A, to_ssd, g=groups)
    no_decay = torch.zeros_like(A)
    y = ssd(xs, m, no_decay, B, C) + ssd(xs.flip(1), m.flip(1), no_decay, B.flip(1), C.flip(1)).flip(1)
    if subtract_own_term:
        per_head = "b l g n -> b l (g r) n"
        r = x.shape[2] // groups
        cb = torch.einsum("blhn,blhn->blh", repeat(C, per_head, r=r), repeat(B, per_head, r=r))
        y = y - (m * cb)[..., None] * xs
    return rearrange(y, "b l (g r) p -> b l (r g) p", g=groups)


@given(case=vt.nc_ssd_cases(max_len=48))
def test_bidirectional_scans_minus_own_term_are_nc_ssd(case):
    inputs = {k: v for k, v in case.inputs.items() if k != "D"}
    vt.assert_close(_unit_decay_scans(**inputs, subtract_own_term=True), nc_ssd(**inputs), F64)


def test_keeping_the_bias_term_does_not_give_nc_ssd():
    inputs = {k: v for k, v in _inputs().items() if k != "D"}
    err = vt.rel_rms_error(_unit_decay_scans(**inputs, subtract_own_term=False), nc_ssd(**inputs))
    assert err > 0.05


def test_grouped_heads_are_interleaved():
    inputs = _inputs(heads=4, groups=2)
    contiguous = {**inputs, "B": repeat(inputs["B"], "b l g n -> b l (g r) n", r=2)}
    contiguous["C"] = repeat(inputs["C"], "b l g n -> b l (g r) n", r=2)
    interleaved = {**contiguous, "B": repeat(inputs["B"], "b l g n -> b l (r g) n", r=2)}
    interleaved["C"] = repeat(inputs["C"], "b l g n -> b l (r g) n", r=2)
    vt.assert_close(nc_ssd(**inputs), nc_ssd(**interleaved), F64)
    assert vt.rel_rms_error(nc_ssd(**contiguous), nc_ssd(**inputs)) > 0.05


@pytest.fixture
def unchecked():
    """The ValueErrors are what users see when shape checking is off (its default outside the test suite)."""
    was = shapecheck_enabled()
    set_shapecheck(False)
    yield
    set_shapecheck(was)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"x": torch.randn(2, 30, 3, 3)}, r"dt must have shape \(batch, length, heads\) = \(2, 30, 3\)"),
        ({"B": torch.randn(2, 29, 2, 5)}, r"B must have shape \(batch, length, groups, d_state\)"),
        ({"A": torch.randn(1, 4)}, r"A must be 1-D of shape \(heads,\) = \(4,\)"),
        ({"B": torch.randn(2, 30, 3, 5), "C": torch.randn(2, 30, 3, 5)}, r"heads \(4\) must be divisible by groups"),
        ({"impl": "chunked"}, r"unknown impl 'chunked'; expected one of 'auto', 'linear', 'quadratic', 'reference'"),
    ],
    ids=["dt", "length", "A", "groups", "impl"],
)
def test_bad_input_names_the_expectation(unchecked, change, message):
    with pytest.raises(ValueError, match=message):
        nc_ssd(**{**_inputs(), **change})
