"""GatedDWConv against a direct transcription of the GConvNet mixer (spec "block A")."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given

import vmix.testing as vt
from vmix.layers import GatedDWConv


def spec_mixer(x, m):
    """in_proj → [v | z]; v = SiLU(DWConv7×7(v)); y = LN_E(v) ⊙ SiLU(z); out_proj. Written with plain tensor ops."""
    e = m.in_proj.weight.shape[0] // 2
    xz = x @ m.in_proj.weight.T
    v, z = xz[..., :e], xz[..., e:]
    k = m.conv2d.weight.shape[-1]
    v = F.conv2d(v.permute(0, 3, 1, 2), m.conv2d.weight, m.conv2d.bias, padding=k // 2, groups=e).permute(0, 2, 3, 1)
    v = v * torch.sigmoid(v)
    mean = v.mean(-1, keepdim=True)
    var = (v - mean).pow(2).mean(-1, keepdim=True)
    ln = (v - mean) / torch.sqrt(var + 1e-5) * m.out_norm.weight + m.out_norm.bias
    return (ln * z * torch.sigmoid(z)) @ m.out_proj.weight.T


def _perturbed(dim, **kwargs):
    torch.manual_seed(dim)
    m = GatedDWConv(dim, **kwargs).double()
    with torch.no_grad():  # move out_norm off its identity init so every term is exercised
        m.out_norm.weight.normal_(1.0, 0.3)
        m.out_norm.bias.normal_(0.0, 0.3)
    return m


@given(case=vt.image_cases(max_side=9))
def test_matches_the_spec_transcription(case):
    x = case.inputs["x"]
    m = _perturbed(x.shape[-1])
    vt.assert_close(m(x), spec_mixer(x, m), case.tol)


def test_matches_the_spec_with_conv_bias_and_other_kernel_and_expand():
    m = _perturbed(8, expand=1.5, kernel_size=5, conv_bias=True)
    with torch.no_grad():
        m.conv2d.bias.normal_()
    x = torch.randn(2, 6, 3, 8, dtype=torch.float64)
    vt.assert_close(m(x), spec_mixer(x, m), vt.tolerance_for(torch.float64))


@pytest.mark.parametrize("dim", [8, 96, 384])
def test_parameter_count_is_6c2_plus_102c(dim):
    m = GatedDWConv(dim)
    assert sum(p.numel() for p in m.parameters()) == 6 * dim**2 + 102 * dim
    assert sum(p.numel() for p in GatedDWConv(dim, conv_bias=True).parameters()) == 6 * dim**2 + 104 * dim


def test_keys_shapes_and_init():
    m = GatedDWConv(32)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == {
        "in_proj.weight": (128, 32),
        "conv2d.weight": (64, 1, 7, 7),
        "out_norm.weight": (64,),
        "out_norm.bias": (64,),
        "out_proj.weight": (32, 64),
    }
    assert m.in_proj.weight.abs().max() <= 2.0 and abs(m.in_proj.weight.std().item() - 0.02) < 2e-3
    assert m.out_norm.eps == 1e-5


def test_rejects_wrong_channels_and_even_kernel():
    with pytest.raises(ValueError, match="dim = 16"):
        GatedDWConv(16)(torch.randn(1, 4, 4, 8))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        GatedDWConv(16, kernel_size=6)


@pytest.mark.compile
def test_compiled_fullgraph_equals_eager():
    torch.manual_seed(0)
    m = GatedDWConv(8)
    x = torch.randn(2, 5, 3, 8)
    compiled = torch.compile(m, fullgraph=True)
    vt.assert_close(compiled(x), m(x), vt.tolerance_for(torch.float32))
