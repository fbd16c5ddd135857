"""NCSSD, SSD and BiSSD: the shape contract, the official parameter layout, and the official dataflow re-derived."""

import pytest
import torch
import torch.nn.functional as F

import vmix.testing as vt
from vmix.layers.nc_ssd import NCSSD, SSD, BiSSD

F64 = vt.tolerance_for(torch.float64)
MIXERS = [NCSSD, SSD, BiSSD]


def _tiny(cls, dim=16, **overrides):
    kwargs = dict(heads=4, d_state=6) | ({} if cls is NCSSD else {"chunk_size": 4}) | overrides
    return cls(dim, **kwargs)


def _randomise(module, seed=0):
    """Non-trivial values everywhere (norm affine, D), so no parameter's role is hidden by its initial value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p + 0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


@pytest.mark.parametrize("cls", MIXERS)
@pytest.mark.parametrize("size", [(1, 1), (3, 5), (6, 2), (4, 4)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_shape_contract(cls, size):
    x = torch.randn(2, *size, 16)
    assert _tiny(cls)(x).shape == x.shape


@pytest.mark.parametrize(
    "cls, fast, slow",
    [
        (NCSSD, "linear", "quadratic"),
        (NCSSD, "linear", "reference"),
        (SSD, "chunked", "reference"),
        (BiSSD, "chunked", "quadratic"),
    ],
)
def test_forms_agree_through_the_layer(cls, fast, slow):
    layer = _randomise(_tiny(cls, impl=fast).double())
    twin = _tiny(cls, impl=slow).double()
    twin.load_state_dict(layer.state_dict())
    x = torch.randn(2, 5, 3, 16, dtype=torch.float64)
    vt.assert_close(layer(x), twin(x), F64)


def _official_mixer(module, u, h, w, core):
    """The official ``Mamba2.forward`` (VSSD, mamba2.py), tokens in and out, written from the spec, not from vmix."""
    batch, length, _ = u.shape
    inner, heads, groups, n = module.inner, module.heads, module.groups, module.d_state
    z, xbc, dt = torch.split(u @ module.in_proj.weight.T, [inner, inner + 2 * groups * n, heads], dim=-1)
    dt = F.softplus(dt + module.dt_bias)
    conv = F.conv2d(
        xbc.view(batch, h, w, -1).permute(0, 3, 1, 2),
        module.conv2d.weight,
        module.conv2d.bias,
        padding=1,
        groups=xbc.shape[-1],
    )
    xbc = F.silu(conv).permute(0, 2, 3, 1).reshape(batch, length, -1)
    x, B, C = torch.split(xbc, [inner, groups * n, groups * n], dim=-1)
    y = core(x.view(batch, length, heads, -1), dt, -torch.exp(module.A_log), B, C, module.D, groups)
    y = F.layer_norm(y.reshape(batch, length, inner), (inner,), module.norm.weight, module.norm.bias, 1e-5) * z
    return y @ module.out_proj.weight.T


def _official_non_causal(x, dt, A, B, C, D, groups):
    """``non_casual_linear_attn`` of the official code: matmuls in its order, heads grouped as ``view(h // g, g)``."""
    b, length, h, d = x.shape
    n = B.shape[-1] // groups
    V = x.permute(0, 2, 1, 3)  # (b, h, length, d)
    V_scaled = V * (-(dt.permute(0, 2, 1)[..., None] * A.view(1, -1, 1, 1)))
    K = B.view(b, 1, length, groups, n).permute(0, 1, 3, 2, 4)  # (b, 1, g, l, n)
    Q = C.view(b, 1, length, groups, n).permute(0, 1, 3, 2, 4)
    KV = K.transpose(-2, -1) @ V_scaled.reshape(b, h // groups, groups, length, d)  # (b, h/g, g, n, d)
    y = (Q @ KV).reshape(b, h, length, d) + V * D.view(1, -1, 1, 1)
    return y.permute(0, 2, 1, 3)


def _causal_dense(x, dt, A, B, C, D, reverse):
    """Claim (d) of the spec in closed form: ``Σ_{s≤t}`` (or ``Σ_{s≥t}``) of ``(C_t·B_s) Λ_ts dt_s x_s`` per head."""
    h, g = x.shape[2], B.shape[2]
    Bh, Ch = B.repeat_interleave(h // g, dim=2), C.repeat_interleave(h // g, dim=2)  # head j reads j // (h / g)
    cs = torch.cumsum(dt * A, dim=1)  # (b, l, h)
    t, s = torch.arange(x.shape[1])[:, None], torch.arange(x.shape[1])[None, :]
    if reverse:  # exponent Σ_{k=t..s-1} dt_k A
        exponent = (cs - dt * A)[:, None, :, :] - (cs - dt * A)[:, :, None, :]
        mask = s >= t
    else:  # exponent Σ_{k=s+1..t} dt_k A
        exponent = cs[:, :, None, :] - cs[:, None, :, :]
        mask = s <= t
    decay = torch.where(mask[None, :, :, None], torch.exp(exponent), torch.zeros(()))  # (b, t, s, h)
    scores = torch.einsum("bthn,bshn->btsh", Ch, Bh) * decay * dt[:, None]
    return torch.einsum("btsh,bshp->bthp", scores, x) + D[:, None] * x


def _official_causal(x, dt, A, B, C, D, groups):
    return _causal_dense(x, dt, A, B.unflatten(-1, (groups, -1)), C.unflatten(-1, (groups, -1)), D, reverse=False)


def _official_bidirectional(x, dt, A, B, C, D, groups):
    h, g = x.shape[2] // 2, groups // 2
    B, C = B.unflatten(-1, (groups, -1)), C.unflatten(-1, (groups, -1))
    forward = _causal_dense(x[:, :, :h], dt[:, :, :h], A[:h], B[:, :, :g], C[:, :, :g], D[:h], reverse=False)
    backward = _causal_dense(x[:, :, h:], dt[:, :, h:], A[h:], B[:, :, g:], C[:, :, g:], D[h:], reverse=True)
    return torch.cat([forward, backward], dim=2)


@pytest.mark.parametrize(
    "cls, groups, core",
    [
        (NCSSD, 1, _official_non_causal),
        (NCSSD, 2, _official_non_causal),
        (SSD, 1, _official_causal),
        (SSD, 2, _official_causal),
        (BiSSD, 2, _official_bidirectional),
        (BiSSD, 4, _official_bidirectional),
    ],
)
@pytest.mark.parametrize("size", [(5, 3), (1, 4)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_matches_official_dataflow(cls, groups, core, size):
    layer = _randomise(_tiny(cls, groups=groups, heads=4 if groups < 4 else 8).double())
    h, w = size
    x = torch.randn(2, h, w, 16, dtype=torch.float64)
    expected = _official_mixer(layer, x.reshape(2, h * w, 16), h, w, core).view(2, h, w, 16)
    vt.assert_close(layer(x), expected, F64)


def test_without_m_is_plain_linear_attention_plus_skip():
    layer = _randomise(_tiny(NCSSD, use_m=False).double())
    assert "dt_bias" not in layer.state_dict() and "A_log" not in layer.state_dict()
    assert layer.in_proj.weight.shape == (2 * 32 + 2 * 6, 16)
    x = torch.randn(2, 3, 4, 16, dtype=torch.float64)
    # With m ≡ 1 the official dataflow sees dt = 1 and A = -1: give it a layer whose dt rows and step are exactly that.
    twin = _tiny(NCSSD).double()
    state = dict(layer.state_dict())
    state["in_proj.weight"] = torch.cat([layer.in_proj.weight, torch.zeros(4, 16, dtype=torch.float64)])
    state["dt_bias"] = torch.full((4,), 1 + torch.log(-torch.expm1(torch.tensor(-1.0, dtype=torch.float64))))
    state["A_log"] = torch.zeros(4, dtype=torch.float64)
    twin.load_state_dict(state)
    vt.assert_close(layer(x), twin(x), F64)
    assert torch.equal(layer.token_weights(x), torch.ones(2, 3, 4, 4, dtype=torch.float64))


def test_token_weights_are_dt_times_exp_a_log():
    layer = _randomise(_tiny(NCSSD).double())
    x = torch.randn(2, 3, 5, 16, dtype=torch.float64)
    dt_raw = (x @ layer.in_proj.weight.T)[..., -4:]
    expected = F.softplus(dt_raw + layer.dt_bias) * torch.exp(layer.A_log)
    vt.assert_close(layer.token_weights(x), expected, F64)
    assert (expected > 0).all()


def test_state_dict_matches_official_tiny_stage_0():
    # Spec section 4, VSSD-Tiny stage 0: C 64, E 128, heads 2, n 64.
    shapes = {k: tuple(v.shape) for k, v in NCSSD(64, heads=2, d_state=64).state_dict().items()}
    assert shapes == {
        "dt_bias": (2,),
        "A_log": (2,),
        "D": (2,),
        "in_proj.weight": (386, 64),
        "conv2d.weight": (256, 1, 3, 3),
        "conv2d.bias": (256,),
        "norm.weight": (128,),
        "norm.bias": (128,),
        "out_proj.weight": (64, 128),
    }


@pytest.mark.parametrize("cls", MIXERS)
def test_parameter_count_follows_spec_formula(cls):
    # Spec 1.4 with G groups: C(2E + 2Gn + H) + 10(E + 2Gn) + 3H + 2E + EC; Micro stage 0 (C 48, H 2, n 48).
    c, heads, n, groups = 48, 2, 48, 2 if cls is BiSSD else 1
    e = 2 * c
    expected = c * (2 * e + 2 * groups * n + heads) + 10 * (e + 2 * groups * n) + 3 * heads + 2 * e + e * c
    assert sum(p.numel() for p in cls(c, heads=heads, d_state=n).parameters()) == expected


def test_initialisation_follows_vssd():
    layer = NCSSD(64, heads=16, d_state=8)
    assert torch.equal(layer.D, torch.ones(16))
    assert (layer.A_log.exp() >= 1).all() and (layer.A_log.exp() <= 16).all()
    dt = F.softplus(layer.dt_bias)
    assert (dt >= 1e-3 * (1 - 1e-5)).all() and (dt <= 1e-1 * (1 + 1e-5)).all()
    assert 0.015 < layer.in_proj.weight.std() < 0.025 and layer.in_proj.weight.abs().max() <= 2


def test_wrong_channel_count_names_dim():
    with pytest.raises(ValueError, match=r"dim=16"):
        _tiny(NCSSD)(torch.randn(1, 3, 3, 12))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: BiSSD(16, heads=4, groups=1), r"groups must be even; got 1"),
        (lambda: NCSSD(16, heads=5), r"heads \(5\) must divide the inner width"),
        (lambda: SSD(16, heads=4, groups=3), r"groups \(3\) must divide heads \(4\)"),
        (lambda: NCSSD(16, heads=4, d_conv=4), r"d_conv must be odd"),
        (lambda: NCSSD(16, heads=4, impl="chunked"), r"unknown impl 'chunked'; expected one of 'auto', 'linear'"),
        (lambda: BiSSD(16, heads=4, impl="linear"), r"BiSSD: unknown impl 'linear'; expected one of 'auto', 'chunked'"),
    ],
    ids=["bissd-groups", "heads", "groups", "d_conv", "nc-impl", "ssd-impl"],
)
def test_bad_configuration_is_rejected(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.compile
@pytest.mark.parametrize(
    "cls", [NCSSD, pytest.param(SSD, marks=pytest.mark.slow), pytest.param(BiSSD, marks=pytest.mark.slow)]
)
def test_compiles_fullgraph_and_equals_eager(cls):
    torch._dynamo.reset()
    layer = _randomise(_tiny(cls, dim=8, heads=2, d_state=4, groups=2))
    x = torch.randn(1, 3, 5, 8)
    vt.assert_close(torch.compile(layer, fullgraph=True)(x), layer(x), vt.tolerance_for(torch.float32))


@pytest.mark.compile
@pytest.mark.parametrize("cls", [SSD, BiSSD])
def test_traces_as_one_graph(cls):
    # Graph capture only (no code generation): the causal mixers are checked for graph breaks in the default suite,
    # their full Inductor compile above is slow.
    torch._dynamo.reset()
    layer = _tiny(cls, dim=8, heads=2, d_state=4, groups=2)
    x = torch.randn(1, 3, 5, 8)
    vt.assert_close(torch.compile(layer, fullgraph=True, backend="eager")(x), layer(x), vt.tolerance_for(torch.float32))
