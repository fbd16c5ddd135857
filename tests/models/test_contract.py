"""The model contract, checked on every registered model (one block of each kind per stage, small inputs)."""

import math

import pytest
import torch

import vmix
from vmix.models import Backbone


def _expected_sides(config, side: int) -> list[int]:
    # stride-2 3×3 pad-1 convs round up; VSSD's 4×4 patchify stem rounds down
    side = side // 4 if config.stem == "vssd_patch" else math.ceil(math.ceil(side / 2) / 2)
    sides = [side]
    for _ in range(3):
        side = math.ceil(side / 2)
        sides.append(side)
    return sides


@pytest.fixture(scope="module", params=vmix.list_models())
def built(request, shrink):
    torch.manual_seed(0)
    config = shrink(request.param, num_classes=11)
    return request.param, Backbone(config).eval()


def test_forward_and_head(built):
    name, model = built
    x = torch.randn(2, 3, 32, 40)
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model(x)
        pooled = model.forward_head(feats, pre_logits=True)
    h, w = _expected_sides(model.config, 32)[-1], _expected_sides(model.config, 40)[-1]
    assert feats.shape == (2, h, w, model.num_features)
    assert logits.shape == (2, 11) and model.num_classes == 11
    assert pooled.shape == (2, model.head.hidden_size)
    assert torch.isfinite(logits).all()


def test_intermediates_at_odd_sizes(built):
    name, model = built
    x = torch.randn(1, 3, 37, 45)
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        last_two = model.forward_intermediates(x, indices=2, output_fmt="NHWC", intermediates_only=True)
    hs, ws = _expected_sides(model.config, 37), _expected_sides(model.config, 45)
    for i, (fmap, info) in enumerate(zip(maps, model.feature_info, strict=True)):
        assert fmap.shape == (1, info["num_chs"], hs[i], ws[i])
        assert info["reduction"] == 4 * 2**i
    assert final.shape == (1, hs[3], ws[3], model.num_features)
    assert [m.shape for m in last_two] == [m.permute(0, 2, 3, 1).shape for m in maps[2:]]
    torch.testing.assert_close(last_two[1], maps[3].permute(0, 2, 3, 1))


def test_reset_classifier(built):
    name, model = built
    model.reset_classifier(5)
    assert model.num_classes == 5
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)
    model.reset_classifier(0)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, model.head.hidden_size)
    model.reset_classifier(11)


@pytest.mark.parametrize("name", ["vmamba_hybrid1_pico", "vssd_micro_hybrid_patch", "mambaout_femto"])
def test_features_only(name, shrink):
    model = Backbone(shrink(name), features_only=True, out_indices=(1, 3)).eval()
    assert not hasattr(model, "head") and model.num_classes == 0
    with torch.no_grad():
        maps = model(torch.randn(1, 3, 64, 96))
    assert [tuple(m.shape[1:]) for m in maps] == [
        (model.feature_info[1]["num_chs"], 8, 12),
        (model.feature_info[3]["num_chs"], 2, 3),
    ]


def test_create_model_features_only():
    model = vmix.create_model("gconvnet_pico", features_only=True)
    maps = model(torch.randn(1, 3, 32, 32))
    assert [m.shape[1] for m in maps] == [48, 96, 192, 384]
    with pytest.raises(ValueError, match="out_indices"):
        vmix.create_model("gconvnet_pico", features_only=True, out_indices=(4,))


def test_bad_input_names_the_shape(shrink):
    model = Backbone(shrink("gconvnet_pico"))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.randn(1, 32, 32, 3))
    with pytest.raises(ValueError, match="output_fmt"):
        model.forward_intermediates(torch.randn(1, 3, 32, 32), output_fmt="NWHC")


def test_training_step_reaches_every_parameter(shrink):
    model = Backbone(shrink("vssd_micro", drop_path_rate=0.1)).train()
    model(torch.randn(2, 3, 32, 32)).logsumexp(-1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
