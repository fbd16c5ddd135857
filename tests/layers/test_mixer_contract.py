"""One contract for every token mixer vmix.layers exports: ``(B, H, W, C) -> (B, H, W, C)`` at any map size.

Any mixer must drop into any block, so each is checked the same way: odd, non-square and 1×1 maps, batch 1, float32
and float64, samples that do not leak into each other, a clear error for a wrong channel count, a finite gradient
for every parameter, and a ``torch.compile(fullgraph=True)`` graph equal to eager.
"""

import pytest
import torch

import vmix.layers as L
import vmix.testing as vt

DIM = 16

# A small instance of each mixer; a mixer added to vmix.layers must be added here (see the export test below).
MIXERS = {
    "SS2D": lambda: L.SS2D(DIM),
    "NCSSD": lambda: L.NCSSD(DIM, heads=2, d_state=8),
    "SSD": lambda: L.SSD(DIM, heads=2, d_state=8),
    "BiSSD": lambda: L.BiSSD(DIM, heads=2, d_state=8, groups=2),
    "GatedDWConv": lambda: L.GatedDWConv(DIM),
    "Attention": lambda: L.Attention(DIM, head_dim=8),
}
NOT_MIXERS = {"ConvPosEnc", "Mlp", "DropPath"}  # block parts, not token mixers

SIZES = [(1, 1, 1), (2, 5, 3), (1, 3, 8)]  # (batch, height, width)


def make(name, dtype=torch.float32):
    torch.manual_seed(0)
    return MIXERS[name]().to(dtype)


def test_every_exported_module_is_classified():
    assert set(MIXERS) | NOT_MIXERS == set(L.__all__)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("size", SIZES, ids=[f"B{b}-H{h}-W{w}" for b, h, w in SIZES])
@pytest.mark.parametrize("name", MIXERS)
def test_maps_any_size_to_the_same_shape(name, size, dtype):
    x = torch.randn(*size, DIM, dtype=dtype)
    out = make(name, dtype)(x)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", MIXERS)
def test_samples_do_not_leak_into_each_other(name):
    mixer = make(name, torch.float64)
    x = torch.randn(3, 4, 5, DIM, dtype=torch.float64)
    alone = torch.cat([mixer(x[i : i + 1]) for i in range(3)])
    vt.assert_close(mixer(x), alone, vt.tolerance_for(torch.float64))


@pytest.mark.parametrize("name", MIXERS)
def test_wrong_channel_count_names_the_expected_dim(name):
    with pytest.raises(ValueError, match=rf"dim ?= ?{DIM}\b"):
        make(name)(torch.randn(1, 3, 3, DIM + 8))


@pytest.mark.parametrize("name", MIXERS)
def test_every_parameter_gets_a_finite_gradient(name):
    mixer = make(name)
    mixer(torch.randn(2, 5, 3, DIM)).square().mean().backward()
    for pname, param in mixer.named_parameters():
        assert param.grad is not None, f"{name}.{pname} gets no gradient"
        assert torch.isfinite(param.grad).all(), f"{name}.{pname} has a non-finite gradient"


@pytest.mark.compile
@pytest.mark.parametrize("name", MIXERS)
def test_traces_as_one_graph(name):
    # Graph capture only (no code generation), so every mixer is checked for graph breaks in the default suite.
    torch._dynamo.reset()
    mixer = make(name)
    x = torch.randn(2, 5, 3, DIM)
    compiled = torch.compile(mixer, fullgraph=True, backend="eager")
    vt.assert_close(compiled(x), mixer(x), vt.tolerance_for(torch.float32))


@pytest.mark.compile
@pytest.mark.slow  # Inductor on the scan mixers takes 20-60 s each on two cores; each mixer's own tests compile it
@pytest.mark.parametrize("name", MIXERS)
def test_compiled_fullgraph_equals_eager_forward_and_backward(name):
    torch._dynamo.reset()
    mixer = make(name)
    x = torch.randn(2, 5, 3, DIM)
    upstream = torch.randn(2, 5, 3, DIM)

    def run(module):
        mixer.zero_grad()
        out = module(x)
        (out * upstream).sum().backward()
        return {"out": out.detach(), **{n: p.grad.clone() for n, p in mixer.named_parameters()}}

    vt.assert_close(run(torch.compile(mixer, fullgraph=True)), run(mixer), vt.tolerance_for(torch.float32))


CONVOLVING = {
    **{n: MIXERS[n] for n in ("SS2D", "NCSSD", "SSD", "BiSSD", "GatedDWConv")},
    "ConvPosEnc": lambda: L.ConvPosEnc(DIM),
}


@pytest.mark.parametrize("name", sorted(CONVOLVING))
def test_conv_impl_picks_the_depthwise_convolutions_form(name):
    torch.manual_seed(0)
    layer = CONVOLVING[name]().double()
    x = torch.randn(2, 5, 3, DIM, dtype=torch.float64)
    want = layer(x)
    layer.conv_impl = "reference"
    vt.assert_close(layer(x), want, vt.TOLERANCES[torch.float64], name=f"{name} on the reference convolution")
    layer.conv_impl = "winograd"
    with pytest.raises(ValueError, match="unknown impl 'winograd'"):
        layer(x)
