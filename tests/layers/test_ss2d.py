"""SS2D: the layer contract, its forms agree, and it computes what the official VMamba v05_noz dataflow computes."""

import jaxtyping
import pytest
import torch
import torch.nn.functional as F

import vmix.testing as vt
from vmix.layers.ss2d import SS2D

F64 = vt.tolerance_for(torch.float64)


def _perturbed(dim=8, **kwargs) -> SS2D:
    # Move every SSM parameter off its initial value so each term of the layer is exercised.
    torch.manual_seed(0)
    layer = SS2D(dim, **kwargs).double()
    with torch.no_grad():
        for p in (layer.A_logs, layer.Ds, layer.dt_projs_bias, layer.out_norm.weight, layer.out_norm.bias):
            p.add_(0.3 * torch.randn_like(p))
        layer.in_proj.weight.mul_(10)  # O(1) activations instead of O(0.1)
    return layer


@pytest.mark.parametrize("hw", [(1, 1), (1, 6), (5, 1), (3, 7), (4, 4)])
def test_shape_contract(hw):
    layer = SS2D(8, d_state=2)
    x = torch.randn(2, *hw, 8)
    assert layer(x).shape == x.shape


def test_chunked_equals_reference_forward_and_backward():
    layer = _perturbed(d_state=2)
    x = torch.randn(2, 5, 3, 8, dtype=torch.float64, requires_grad=True)

    def run(impl):
        layer.scan_impl = impl
        out = layer(x)
        grads = torch.autograd.grad(
            (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(), [x, *layer.parameters()]
        )
        return out, grads

    out, grads = run("chunked")
    want, want_grads = run("reference")
    vt.assert_close(out, want, F64)
    names = ["x", *(name for name, _ in layer.named_parameters())]
    vt.assert_close(dict(zip(names, grads, strict=True)), dict(zip(names, want_grads, strict=True)), F64)


def _official_forward(layer: SS2D, x: torch.Tensor) -> torch.Tensor:
    """The official v05_noz forward written channel-first with explicit flips and transposes, its own scan loop."""
    K, N, R = 4, layer.d_state, layer.dt_rank
    x = layer.in_proj(x).permute(0, 3, 1, 2)
    x = F.silu(layer.conv2d(x))
    B_, D_, H, W = x.shape
    L = H * W
    x_hwwh = torch.stack([x.view(B_, -1, L), torch.transpose(x, 2, 3).contiguous().view(B_, -1, L)], dim=1)
    xs = torch.cat([x_hwwh, torch.flip(x_hwwh, dims=[-1])], dim=1)  # (B, K, D, L)
    x_dbl = torch.einsum("b k d l, k c d -> b k c l", xs, layer.x_proj_weight)
    dts, Bs, Cs = torch.split(x_dbl, [R, N, N], dim=2)
    dts = torch.einsum("b k r l, k d r -> b k d l", dts, layer.dt_projs_weight)

    delta = F.softplus(dts.reshape(B_, K * D_, L) + layer.dt_projs_bias.reshape(-1, 1))
    A = -torch.exp(layer.A_logs)  # (K*D, N)
    u = xs.reshape(B_, K * D_, L)
    Bx = Bs.repeat_interleave(D_, dim=1)  # (B, K*D, N, L): direction k's B for its D channels
    Cx = Cs.repeat_interleave(D_, dim=1)
    state = torch.zeros(B_, K * D_, N, dtype=x.dtype)
    outs = []
    for i in range(L):
        state = torch.exp(delta[:, :, i, None] * A) * state + delta[:, :, i, None] * Bx[..., i] * u[:, :, i, None]
        outs.append(torch.einsum("bdn,bdn->bd", state, Cx[..., i]))
    out_y = (torch.stack(outs, dim=-1) + layer.Ds[:, None] * u).view(B_, K, -1, L)

    inv_y = torch.flip(out_y[:, 2:4], dims=[-1]).view(B_, 2, -1, L)
    wh_y = torch.transpose(out_y[:, 1].view(B_, -1, W, H), dim0=2, dim1=3).contiguous().view(B_, -1, L)
    invwh_y = torch.transpose(inv_y[:, 1].view(B_, -1, W, H), dim0=2, dim1=3).contiguous().view(B_, -1, L)
    y = out_y[:, 0] + inv_y[:, 0] + wh_y + invwh_y
    y = y.transpose(1, 2).contiguous().view(B_, H, W, -1)
    return layer.out_proj(layer.out_norm(y))


@pytest.mark.parametrize("impl", ["auto", "reference"])
@pytest.mark.parametrize("hw", [(4, 6), (5, 3), (1, 4)])
def test_matches_the_official_dataflow(impl, hw):
    layer = _perturbed(d_state=2, scan_impl=impl)
    x = torch.randn(2, *hw, 8, dtype=torch.float64)
    vt.assert_close(layer(x), _official_forward(layer, x), F64)


def test_state_dict_matches_the_official_keys_and_shapes():
    # Spec 1.10, VMamba-Tiny stage 0: C = 96, E = 192, R = 6, N = 1, K = 4.
    want = {
        "in_proj.weight": (192, 96),
        "conv2d.weight": (192, 1, 3, 3),
        "x_proj_weight": (4, 8, 192),
        "dt_projs_weight": (4, 192, 6),
        "dt_projs_bias": (4, 192),
        "A_logs": (768, 1),
        "Ds": (768,),
        "out_norm.weight": (192,),
        "out_norm.bias": (192,),
        "out_proj.weight": (96, 192),
    }
    assert {k: tuple(v.shape) for k, v in SS2D(96).state_dict().items()} == want


def test_initialisation():
    torch.manual_seed(0)
    layer = SS2D(96, d_state=3)
    dt = F.softplus(layer.dt_projs_bias)
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 0.1 * (1 + 1e-5)
    torch.testing.assert_close(-torch.exp(layer.A_logs), -torch.arange(1.0, 4.0).expand(768, 3))
    assert torch.equal(layer.Ds, torch.ones(768))
    assert layer.in_proj.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert layer.x_proj_weight.abs().max() <= 192**-0.5
    assert layer.dt_projs_weight.abs().max() <= 6**-0.5


def test_bfloat16_autocast_matches_float32():
    layer = _perturbed().float()
    x = torch.randn(1, 3, 4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)
    assert out.dtype == torch.bfloat16
    vt.assert_close(out.float(), layer(x), vt.tolerance_for(torch.bfloat16))


def test_bad_input_is_named():
    layer = SS2D(8)
    with pytest.raises(ValueError, match=r"\(batch, h, w, dim=8\); got \(1, 3, 3, 6\)"):
        layer(torch.randn(1, 3, 3, 6))
    with pytest.raises(jaxtyping.TypeCheckError):
        layer(torch.randn(3, 3, 8))
    with pytest.raises(ValueError, match="unknown scan_impl 'cuda'; expected one of"):
        SS2D(8, scan_impl="cuda")
    with pytest.raises(ValueError, match="d_conv must be a positive odd kernel size"):
        SS2D(8, d_conv=4)
    with pytest.raises(ValueError, match="dt_rank must be 'auto' or a positive int"):
        SS2D(8, dt_rank=0)


@pytest.mark.compile
def test_compiles_fullgraph_and_equals_eager():
    torch.manual_seed(0)
    layer = SS2D(8, d_state=2)
    x = torch.randn(1, 3, 5, 8)
    compiled = torch.compile(layer, fullgraph=True)
    with torch.no_grad():  # forward only keeps the test small; the scan's compiled backward is tested with the op
        torch.testing.assert_close(compiled(x), layer(x), rtol=1e-4, atol=1e-5)
