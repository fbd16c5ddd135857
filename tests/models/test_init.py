"""A fresh model is initialised as the official code initialises it (VMamba spec 1.9, VSSD 1.3/3.5, MambaOut)."""

import math

import pytest
import torch
from torch import nn

from vmix.models import Backbone


@pytest.fixture(scope="module")
def vmamba(shrink):
    torch.manual_seed(0)
    return Backbone(shrink("vmamba_pico", width_divisor=1))


@pytest.fixture(scope="module")
def vssd(shrink):
    torch.manual_seed(0)
    return Backbone(shrink("vssd_micro", width_divisor=1))


def _std(t):
    return t.detach().float().std().item()


def test_linears_trunc_normal_002(vmamba, vssd):
    for model in (vmamba, vssd):
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear) and module.weight.numel() > 10_000:
                assert _std(module.weight) == pytest.approx(0.02, rel=0.05), name
                assert module.bias is None or not module.bias.any(), name


def test_norms_ones_zeros(vmamba, vssd):
    for model in (vmamba, vssd):
        for name, module in model.named_modules():
            if isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
                assert module.weight.eq(1).all() and module.bias.eq(0).all(), name


def test_convs_keep_pytorch_default(vmamba, vssd):
    stem = vmamba.stem.conv1.weight  # kaiming_uniform(a=√5): U(±1/√fan_in), fan_in = 27
    assert stem.abs().max() <= 1 / math.sqrt(27) and _std(stem) > 0.1
    cpe = vssd.layers[0].blocks[0].cpe1.weight  # fan_in = 9
    assert cpe.abs().max() <= 1 / 3 and _std(cpe) > 0.1


def test_ss2d_parameters(vmamba):
    op = vmamba.layers[2].blocks[0].op  # C = 192, E = 384, R = 12
    dt = nn.functional.softplus(op.dt_projs_bias)
    assert dt.min() >= 1e-4 and dt.max() <= 0.1 + 1e-6 and dt.max() > 0.05
    assert op.A_logs.eq(0).all() and op.Ds.eq(1).all()  # A = -1 for N = 1
    assert op.x_proj_weight.abs().max() <= 384**-0.5 and _std(op.x_proj_weight) > 0.5 * 384**-0.5 / math.sqrt(3)
    assert op.dt_projs_weight.abs().max() <= 12**-0.5


def test_nc_ssd_parameters(vssd):
    attn = vssd.layers[1].blocks[0].attn
    assert attn.A_log.min() >= 0 and attn.A_log.max() <= math.log(16)
    dt = nn.functional.softplus(attn.dt_bias)
    assert dt.min() >= 1e-4 and dt.max() <= 0.1 + 1e-6
    assert attn.D.eq(1).all()


def test_mambaout_convs_trunc_normal(shrink):
    torch.manual_seed(0)
    model = Backbone(shrink("mambaout_femto", width_divisor=1))
    conv = model.layers[2].downsample.conv.weight
    assert _std(conv) == pytest.approx(0.02, rel=0.05) and not conv.abs().gt(0.04 * 3).any()
    assert not model.layers[0].blocks[0].conv.bias.any()
