"""selective_scan_triton on a GPU: equals the float64 recurrence, forward and every gradient, and compiles whole."""

import pytest
import torch
from hypothesis import given, settings

import vmix.testing as vt

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
triton_form = pytest.importorskip("vmix.ops.selective_scan.triton", reason="needs triton")

from vmix.ops.selective_scan import selective_scan, selective_scan_reference  # noqa: E402

CUDA = torch.device("cuda")


def _to_cuda(inputs):
    return {k: v.to(CUDA) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}


@settings(max_examples=12)
@given(case=vt.selective_scan_cases(max_len=200, max_dim=16, dtypes=(torch.float32, torch.bfloat16)))
def test_triton_matches_reference(case):
    vt.assert_forms_agree(triton_form.selective_scan_triton, selective_scan_reference, _to_cuda(case.inputs), case.tol)


def _inputs(batch, dim, groups, d_state, length, dtype, seed, *, strided_bc=False):
    g = torch.Generator(device=CUDA).manual_seed(seed)
    f64 = dict(dtype=torch.float64, device=CUDA)
    dt = torch.empty(batch, dim, length, **f64).uniform_(-6.9, 0.0, generator=g).exp()  # Δ in [1e-3, 1]
    bias = torch.randn(dim, **f64, generator=g) * 0.5
    delta = dt + torch.log(-torch.expm1(-dt)) - bias[:, None]  # softplus(delta + bias) = Δ
    if strided_bc:  # B and C as row slices of one projection, as SS2D's x_proj produces them
        x_dbl = torch.randn(batch, groups, 3 + 2 * d_state, length, **f64, generator=g).to(dtype)
        B, C = x_dbl[:, :, 3 : 3 + d_state], x_dbl[:, :, 3 + d_state :]
    else:
        B, C = (torch.randn(batch, groups, d_state, length, **f64, generator=g).to(dtype) for _ in range(2))
    return dict(
        u=torch.randn(batch, dim, length, **f64, generator=g).to(dtype),
        delta=delta.to(dtype),
        A=-torch.empty(dim, d_state, **f64).uniform_(0.5, 1.5, generator=g).float(),
        B=B,
        C=C,
        D=torch.randn(dim, **f64, generator=g).float(),
        delta_bias=bias.float(),
        delta_softplus=True,
    )


@pytest.mark.parametrize(
    "shape",
    # (batch, dim, groups, d_state, length): length 1, batch 1, lengths that are not a multiple of the 16-token tile,
    # groups > 1, d_state > 1 and not a power of two, VMamba's K = 4 groups; odd lengths get strided B and C.
    [
        (1, 4, 1, 1, 1),
        (1, 8, 2, 1, 65),
        (2, 12, 3, 3, 100),
        (2, 16, 4, 1, 49),
        (1, 8, 1, 16, 33),
        (2, 48, 4, 1, 196),
        (1, 32, 4, 1, 1000),
    ],
    ids=lambda s: "B{}-D{}-G{}-N{}-L{}".format(*s),
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_triton_matches_reference_at_edge_shapes(shape, dtype):
    inputs = _inputs(*shape, dtype, seed=sum(shape), strided_bc=shape[-1] % 2 == 1)
    vt.assert_forms_agree(triton_form.selective_scan_triton, selective_scan_reference, inputs, vt.tolerance_for(dtype))


def test_float32_output_from_bfloat16_inputs():
    inputs = _inputs(2, 16, 4, 1, 300, torch.bfloat16, seed=0)
    y = selective_scan(**inputs, impl="triton", out_dtype=torch.float32)
    assert y.dtype == torch.float32
    ref = selective_scan_reference(**inputs, out_dtype=torch.float64)
    vt.assert_close(y, ref, vt.tolerance_for(torch.float32))


def test_custom_ops_pass_opcheck():
    inputs = _inputs(2, 8, 2, 1, 70, torch.float32, seed=1)
    args = [v.requires_grad_(True) if isinstance(v, torch.Tensor) else v for v in inputs.values()]
    torch.library.opcheck(torch.ops.vmix.selective_scan_fwd.default, (*args, torch.float32))


@pytest.mark.compile
def test_compiles_without_graph_break():
    inputs = _inputs(2, 16, 4, 1, 90, torch.bfloat16, seed=2)
    leaves = {k: v.requires_grad_(True) for k, v in inputs.items() if isinstance(v, torch.Tensor)}

    def loss(**kw):
        return triton_form.selective_scan_triton(**kw, out_dtype=torch.float32).square().sum()

    eager = torch.autograd.grad(loss(**inputs), list(leaves.values()))
    compiled = torch.compile(loss, fullgraph=True)
    got = torch.autograd.grad(compiled(**inputs), list(leaves.values()))
    for name, a, b in zip(leaves, got, eager, strict=True):
        torch.testing.assert_close(a, b, msg=lambda m, name=name: f"d{name}: {m}")
