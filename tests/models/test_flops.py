"""The FLOP counter's conventions on single layers, where the answer is known by hand."""

import pytest
from torch import nn

from vmix.analysis import count_flops, count_params
from vmix.analysis.flops import FlopCounter


def test_linear_and_conv_count_macs_without_bias():
    assert count_flops(nn.Linear(8, 4), (5, 8)) == 5 * 8 * 4
    conv = nn.Conv2d(6, 4, 3, padding=1, groups=2)
    assert count_flops(conv, (6, 7, 5)) == 4 * 7 * 5 * (3 * 3 * 3)


def test_norms_and_pooling():
    assert count_flops(nn.LayerNorm(8), (3, 8)) == 5 * 24
    assert count_flops(nn.LayerNorm(8, elementwise_affine=False), (3, 8)) == 4 * 24
    assert count_flops(nn.BatchNorm2d(4), (4, 3, 3)) == 2 * 36  # eval mode
    assert count_flops(nn.AdaptiveAvgPool2d(1), (4, 3, 5)) == 60


def test_elementwise_is_free_in_paper_mode_only():
    act = nn.GELU()
    assert count_flops(act, (10,)) == 0
    assert count_flops(act, (10,), mode="exact") == 10


def test_bad_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        count_flops(nn.GELU(), (3,), mode="fvcore")
    with pytest.raises(ValueError, match="mode must be one of"):
        FlopCounter("fast")


def test_counter_restores_training_mode():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)).train()
    count_flops(model, (4,))
    assert model.training


def test_count_params():
    assert count_params(nn.BatchNorm2d(4)) == 8  # running statistics are buffers, not parameters
