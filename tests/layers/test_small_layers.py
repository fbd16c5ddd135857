"""Mlp, DropPath and ConvPosEnc: the small pieces every block is made of, against their one-line definitions."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vmix.layers import ConvPosEnc, DropPath, Mlp


def test_mlp_is_fc1_exact_gelu_fc2_on_any_leading_dims():
    torch.manual_seed(0)
    mlp = Mlp(8, 24).double()
    for shape in [(2, 3, 5, 8), (4, 8), (1, 1, 1, 8)]:
        x = torch.randn(shape, dtype=torch.float64)
        want = F.linear(F.gelu(F.linear(x, mlp.fc1.weight, mlp.fc1.bias), approximate="none"), mlp.fc2.weight)
        torch.testing.assert_close(mlp(x), want + mlp.fc2.bias)


def test_mlp_keys_init_and_options():
    mlp = Mlp(64, 192)
    assert {k: tuple(v.shape) for k, v in mlp.state_dict().items()} == {
        "fc1.weight": (192, 64),
        "fc1.bias": (192,),
        "fc2.weight": (64, 192),
        "fc2.bias": (64,),
    }
    assert mlp.fc1.bias.eq(0).all() and abs(mlp.fc1.weight.std().item() - 0.02) < 2e-3
    assert set(Mlp(4, 8, bias=False).state_dict()) == {"fc1.weight", "fc2.weight"}
    assert isinstance(Mlp(4, 8, act_layer=nn.SiLU).act, nn.SiLU)


def test_mlp_rejects_wrong_channels():
    with pytest.raises(ValueError, match="in_features = 8"):
        Mlp(8, 16)(torch.randn(2, 3, 6))


def test_drop_path_keeps_the_expected_value_and_drops_whole_samples():
    torch.manual_seed(0)
    drop = DropPath(0.3).train()
    out = drop(torch.ones(20000, 3, 2))
    per_sample = out.flatten(1)
    kept = per_sample[:, 0] != 0
    # every sample is either dropped entirely or kept entirely and scaled by 1/keep
    assert torch.equal(per_sample, kept[:, None].float().expand_as(per_sample) / 0.7)
    dropped_fraction = 1 - kept.float().mean().item()
    assert abs(dropped_fraction - 0.3) < 0.015  # 4.6 standard deviations of a 20000-sample Bernoulli mean
    assert abs(out.mean().item() - 1.0) < 0.03


def test_drop_path_is_identity_in_eval_and_at_zero_and_drops_all_at_one():
    x = torch.randn(4, 3, 3, 8)
    assert DropPath(0.5).eval()(x) is x
    assert DropPath(0.0).train()(x) is x
    assert DropPath(1.0).train()(x).eq(0).all()


def test_drop_path_gradient_follows_the_mask_and_repr_names_the_rate():
    torch.manual_seed(1)
    x = torch.randn(64, 5, requires_grad=True)
    out = DropPath(0.5).train()(x)
    out.sum().backward()
    torch.testing.assert_close(x.grad, (out.detach() / x.detach()))
    assert repr(DropPath(0.25)) == "DropPath(drop_prob=0.250)"


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_drop_path_rejects_probabilities_outside_0_1(p):
    with pytest.raises(ValueError, match=r"drop_prob must be in \[0, 1\]"):
        DropPath(p)


def test_cpe_is_a_depthwise_conv2d_with_vssd_keys():
    cpe = ConvPosEnc(16)
    assert isinstance(cpe, nn.Conv2d)
    assert {k: tuple(v.shape) for k, v in cpe.state_dict().items()} == {"weight": (16, 1, 3, 3), "bias": (16,)}
    assert tuple(ConvPosEnc(8, kernel_size=5).weight.shape) == (8, 1, 5, 5)


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (4, 9)])
def test_cpe_adds_a_depthwise_conv_of_the_map(size):
    torch.manual_seed(0)
    cpe = ConvPosEnc(6).double()
    x = torch.randn(2, *size, 6, dtype=torch.float64)
    conv = F.conv2d(x.permute(0, 3, 1, 2), cpe.weight, cpe.bias, padding=1, groups=6).permute(0, 2, 3, 1)
    torch.testing.assert_close(cpe(x), x + conv)
    with torch.no_grad():
        cpe.weight.zero_()
        cpe.bias.zero_()
    torch.testing.assert_close(cpe(x), x)


def test_cpe_rejects_wrong_channels_and_even_kernels():
    with pytest.raises(ValueError, match="dim = 6"):
        ConvPosEnc(6)(torch.randn(1, 3, 3, 4))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ConvPosEnc(6, kernel_size=4)
