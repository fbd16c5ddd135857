"""The Attention layer against timm's computation, its options and its bad-input errors."""

import pytest
import torch
from hypothesis import given

import vmix.testing as vt
from vmix.layers import Attention


def timm_attention(x, m):
    """timm's ``Attention.forward`` on the flattened map (``qkv`` → reshape → softmax(q kᵀ · scale) v → ``proj``)."""
    b, h, w, c = x.shape
    tokens = x.reshape(b, h * w, c)
    qkv = m.qkv(tokens).reshape(b, h * w, 3, m.heads, c // m.heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    attn = ((q * (c // m.heads) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    out = (attn @ v).transpose(1, 2).reshape(b, h * w, c)
    return m.proj(out).reshape(b, h, w, c)


def _layer(dim, **kwargs):
    torch.manual_seed(dim)
    m = Attention(dim, **kwargs).double()
    with torch.no_grad():  # scores of O(1) so the softmax is far from uniform
        m.qkv.weight.normal_(0.0, dim**-0.5)
        m.qkv.bias.normal_(0.0, 0.1)
    return m


@given(case=vt.image_cases(dims=(8, 16)))
def test_matches_timm_attention(case):
    x = case.inputs["x"]
    m = _layer(x.shape[-1], head_dim=4)
    vt.assert_close(m(x), timm_attention(x, m), case.tol)


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize("impl", ["reference", "sdpa", "flex"])
def test_every_impl_gives_the_same_layer(impl):
    m = _layer(16, heads=2)
    m.impl = impl
    x = torch.randn(2, 3, 5, 16, dtype=torch.float64)
    with torch.no_grad():  # FlexAttention has no backward on CPU and refuses inputs that require grad
        vt.assert_close(m(x), timm_attention(x, m), vt.tolerance_for(torch.float64))


def test_heads_and_head_dim_and_keys():
    assert (Attention(96).heads, Attention(96).head_dim) == (3, 32)
    assert (Attention(96, heads=4).heads, Attention(96, heads=4).head_dim) == (4, 24)
    assert (Attention(96, head_dim=16).heads, Attention(96, head_dim=16).head_dim) == (6, 16)
    m = Attention(64)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == {
        "qkv.weight": (192, 64),
        "qkv.bias": (192,),
        "proj.weight": (64, 64),
        "proj.bias": (64,),
    }
    assert set(Attention(64, qkv_bias=False, proj_bias=False).state_dict()) == {"qkv.weight", "proj.weight"}
    # 4C² + 4C parameters with both biases: the MSA part of the spec's 12C² + 23C Transformer block
    assert sum(p.numel() for p in m.parameters()) == 4 * 64**2 + 4 * 64


def test_single_token_map_returns_the_projected_value():
    m = _layer(8, head_dim=4)
    x = torch.randn(3, 1, 1, 8, dtype=torch.float64)
    v = m.qkv(x)[..., 16:]
    vt.assert_close(m(x), m.proj(v), vt.tolerance_for(torch.float64))


def test_bad_configuration_and_input_are_value_errors():
    with pytest.raises(ValueError, match="divisible by head_dim=32"):
        Attention(48)
    with pytest.raises(ValueError, match="divisible by heads=5"):
        Attention(48, heads=5)
    with pytest.raises(ValueError, match="unknown attention impl 'fast'"):
        Attention(64, impl="fast")
    with pytest.raises(ValueError, match="dim = 64"):
        Attention(64)(torch.randn(1, 2, 2, 32))


@pytest.mark.compile
def test_compiled_fullgraph_equals_eager():
    torch.manual_seed(0)
    m = Attention(16, head_dim=8)
    x = torch.randn(2, 3, 5, 16)
    compiled = torch.compile(m, fullgraph=True)
    vt.assert_close(compiled(x), m(x), vt.tolerance_for(torch.float32))
