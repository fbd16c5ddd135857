"""The registry, configs as data, hybridize, and clear errors on bad names and overrides."""

import dataclasses

import pytest
import torch

import vmix
from vmix.models import BlockConfig, ModelConfig, get_config, hybridize
from vmix.models.configs import StageConfig, hybrid_positions


def test_list_models_pattern():
    assert vmix.list_models("gconvnet_*") == [
        "gconvnet_hybrid1_pico",
        "gconvnet_hybrid1_small",
        "gconvnet_hybrid1_tiny",
        "gconvnet_hybrid2_pico",
        "gconvnet_hybrid2_tiny",
        "gconvnet_pico",
        "gconvnet_small",
        "gconvnet_tiny",
    ]
    assert vmix.list_models("nothing*") == []


def test_misspelt_name_suggests_closest():
    with pytest.raises(KeyError, match="did you mean 'gconvnet_tiny'"):
        vmix.create_model("gconvnet_tinyy")
    with pytest.raises(KeyError, match="vmamba_small"):
        vmix.create_model("vmaba_small")


def test_unknown_override_names_the_fields():
    with pytest.raises(TypeError, match="unknown override.*num_clases.*num_classes"):
        vmix.create_model("gconvnet_pico", num_clases=10)


def test_overrides_reach_the_model():
    model = vmix.create_model("mambaout_femto", num_classes=7, drop_path_rate=0.3, in_chans=1)
    assert model.num_classes == 7 and model.config.drop_path_rate == 0.3
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, 7)
    rates = [b.drop_path.drop_prob for s in model.layers for b in s.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.3) and rates == sorted(rates)


def test_register_user_config():
    cfg = dataclasses.replace(get_config("gconvnet_pico"), num_classes=3)
    vmix.register_model("test_user_gconvnet", cfg)
    assert "test_user_gconvnet" in vmix.list_models()
    assert vmix.create_model("test_user_gconvnet").num_classes == 3
    with pytest.raises(ValueError, match="already registered"):
        vmix.register_model("test_user_gconvnet", cfg)
    with pytest.raises(TypeError, match="expects a ModelConfig"):
        vmix.register_model("test_bad", {"stem": "conv2"})


class _DepthwiseMixer(torch.nn.Module):
    """A user's mixer living outside vmix.layers: a depthwise convolution on channels-last maps."""

    def __init__(self, dim, kernel_size=3):
        super().__init__()
        self.conv = torch.nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)

    def forward(self, x):
        return self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def test_registered_mixer_drops_into_the_macro_architecture():
    from vmix.models.families.gconvnet import GATED_BLOCK
    from vmix.models.families.vmamba import vmamba_config

    vmix.register_mixer("test_depthwise", _DepthwiseMixer)
    vmix.register_mixer("test_depthwise", _DepthwiseMixer)  # the same class again is fine
    block = dataclasses.replace(GATED_BLOCK, mixer="test_depthwise", mixer_options={"kernel_size": 5})
    dims, depths = (16, 32, 64, 128), (1, 1, 2, 1)
    ours = vmix.models.Backbone(vmamba_config(dims, depths, 0.0, block=block))
    gated = vmix.models.Backbone(vmamba_config(dims, depths, 0.0, block=GATED_BLOCK))
    assert ours(torch.randn(2, 3, 40, 56)).shape == (2, 1000)
    assert all(type(b.op) is _DepthwiseMixer for s in ours.layers for b in s.blocks)
    # Aligned: every parameter outside the mixers has the same name and shape in both models.
    shapes = [{k: v.shape for k, v in m.state_dict().items() if ".op." not in k} for m in (ours, gated)]
    assert shapes[0] == shapes[1]


def test_register_mixer_errors_name_the_problem():
    with pytest.raises(ValueError, match="'ss2d' is taken"):
        vmix.register_mixer("ss2d", _DepthwiseMixer)
    with pytest.raises(TypeError, match="needs an nn.Module subclass"):
        vmix.register_mixer("test_not_a_module", lambda dim: None)


def test_bad_configs_name_the_key():
    block = BlockConfig("vss", "gated_dwconv")
    stages = (StageConfig(8, (block,)),) * 4
    with pytest.raises(ValueError, match=r"stem kind \(ModelConfig.stem\)"):
        ModelConfig(stem="conv3", downsample="conv_ln", stages=stages)
    with pytest.raises(ValueError, match="4 stages"):
        ModelConfig(stem="conv2", downsample="conv_ln", stages=stages[:3])
    with pytest.raises(ValueError, match=r"mixer \(BlockConfig.mixer\)"):
        BlockConfig("vss", "mamba")
    with pytest.raises(ValueError, match="no separate mixer"):
        BlockConfig("gated_cnn", "ss2d")
    bad = dataclasses.replace(block, mixer_options={"kernel": 7})
    with pytest.raises(TypeError, match="mixer_options for mixer 'gated_dwconv'"):
        vmix.models.blocks.build_mixer(8, bad)


@pytest.mark.parametrize(
    ("depths", "n_attn", "strategy", "expected"),
    [
        ((2, 2, 5, 2), 2, "proportional", [(2, 4), (3, 1)]),
        ((2, 2, 6, 2), 2, "proportional", [(2, 5), (3, 1)]),
        ((2, 2, 15, 2), 4, "proportional", [(2, 12), (2, 13), (2, 14), (3, 1)]),
        ((2, 2, 17, 2), 4, "proportional", [(2, 14), (2, 15), (2, 16), (3, 1)]),
        ((2, 2, 5, 2), 2, "top_down", [(3, 0), (3, 1)]),
        ((2, 2, 17, 2), 4, "top_down", [(2, 15), (2, 16), (3, 0), (3, 1)]),
    ],
)
def test_hybrid_positions_follow_the_paper(depths, n_attn, strategy, expected):
    assert hybrid_positions(depths, n_attn, strategy) == expected


def test_hybridize_replaces_blocks_only():
    base = get_config("gconvnet_small")
    hybrid = hybridize(base, 4, "proportional")
    assert hybrid.depths == base.depths
    kinds = [[b.kind for b in s.blocks] for s in hybrid.stages]
    assert kinds[2][-3:] == ["transformer"] * 3 and kinds[2][:-3] == ["vss"] * 14
    assert kinds[3] == ["vss", "transformer"]
    assert get_config("gconvnet_hybrid1_small") == hybrid
    with pytest.raises(ValueError, match="unknown hybrid strategy"):
        hybridize(base, 2, "bottom_up")
    with pytest.raises(ValueError, match="n_attn"):
        hybridize(base, 0)
