"""Official checkpoints → vmix: the official key layouts, round trips, legacy variants, strict errors, known answers.

The known-answer fixtures (``fixtures/<family>.json``) hold a small model's *official* key names and shapes, the seed
its weights are drawn from and the logits it gave. The test builds the official-layout state_dict from that key list
(not from vmix's converter), loads it through the family's converter and compares the logits, so a renamed vmix key,
a wrong reshape or a changed forward all fail it. Regenerate with ``VMIX_REGENERATE_FIXTURES=1``.
"""

import json
import os
from pathlib import Path

import pytest
import torch

import vmix
from vmix.models import Backbone
from vmix.models.convert import load_official, strict_load, unwrap_checkpoint
from vmix.models.families import gconvnet, mambaout, vmamba, vssd

FIXTURES = Path(__file__).parent / "fixtures"
FAMILIES = {"vmamba": vmamba, "gconvnet": gconvnet, "mambaout": mambaout, "vssd": vssd}
KNOWN_ANSWER_MODELS = {
    "vmamba": "vmamba_pico",
    "gconvnet": "gconvnet_hybrid1_pico",
    "mambaout": "mambaout_femto",
    "vssd": "vssd_micro",
}


def _official_shapes(name, keymap=None):
    with torch.device("meta"):
        model = vmix.create_model(name)
    keymap = keymap or vmix.models.convert.family_of(name).KEYMAP
    return {k: tuple(v.shape) for k, v in keymap.to_official(model.state_dict()).items()}


def test_vmamba_official_layout():
    shapes = _official_shapes("vmamba_tiny")
    assert len(shapes) == 222  # spec 1.10: VMamba-Tiny has 222 tensors
    expected = {
        "patch_embed.0.weight": (48, 3, 3, 3),
        "patch_embed.2.weight": (48,),
        "patch_embed.5.weight": (96, 48, 3, 3),
        "patch_embed.7.bias": (96,),
        "layers.0.blocks.0.op.in_proj.weight": (192, 96),
        "layers.0.blocks.0.op.conv2d.weight": (192, 1, 3, 3),
        "layers.0.blocks.0.op.x_proj_weight": (4, 8, 192),
        "layers.0.blocks.0.op.dt_projs_weight": (4, 192, 6),
        "layers.0.blocks.0.op.dt_projs_bias": (4, 192),
        "layers.0.blocks.0.op.A_logs": (768, 1),
        "layers.0.blocks.0.op.Ds": (768,),
        "layers.0.blocks.0.op.out_norm.weight": (192,),
        "layers.0.blocks.0.op.out_proj.weight": (96, 192),
        "layers.0.blocks.0.mlp.fc1.weight": (384, 96),
        "layers.2.downsample.1.weight": (768, 384, 3, 3),
        "layers.2.downsample.3.weight": (768,),
        "classifier.norm.weight": (768,),
        "classifier.head.weight": (1000, 768),
    }
    assert {k: shapes[k] for k in expected} == expected
    assert not any(k.startswith("layers.3.downsample") for k in shapes)


def test_vssd_official_layout():
    shapes = _official_shapes("vssd_tiny")
    assert len(shapes) == 421  # spec 4: VSSD-Tiny has 421 state_dict entries
    expected = {
        "patch_embed.conv1.conv.weight": (32, 3, 3, 3),
        "patch_embed.conv1.norm.running_var": (32,),
        "patch_embed.conv2.1.conv.weight": (32, 32, 3, 3),
        "patch_embed.conv3.0.conv.weight": (256, 32, 3, 3),
        "patch_embed.conv3.1.conv.weight": (64, 256, 1, 1),
        "layers.0.blocks.0.cpe1.weight": (64, 1, 3, 3),
        "layers.0.blocks.0.attn.in_proj.weight": (386, 64),
        "layers.0.blocks.0.attn.conv2d.weight": (256, 1, 3, 3),
        "layers.0.blocks.0.attn.conv2d.bias": (256,),
        "layers.0.blocks.0.attn.A_log": (2,),
        "layers.0.blocks.0.attn.dt_bias": (2,),
        "layers.0.blocks.0.attn.D": (2,),
        "layers.0.blocks.0.attn.norm.weight": (128,),
        "layers.0.blocks.0.attn.out_proj.weight": (64, 128),
        "layers.3.blocks.0.attn.to_qkv.weight": (1536, 512),
        "layers.3.blocks.0.attn.to_out.weight": (512, 512),
        "layers.3.blocks.0.attn.to_out.bias": (512,),
        "layers.0.downsample.conv.0.conv.weight": (512, 64, 1, 1),
        "layers.0.downsample.conv.1.conv.weight": (512, 1, 3, 3),
        "layers.0.downsample.conv.2.conv.weight": (128, 512, 1, 1),
        "layers.0.downsample.conv.2.norm.num_batches_tracked": (),
        "norm.weight": (512,),
        "head.weight": (1000, 512),
    }
    assert {k: shapes[k] for k in expected} == expected
    assert "layers.3.blocks.0.attn.to_qkv.bias" not in shapes


def test_vssd_ablation_layout():
    shapes = _official_shapes("vssd_micro_bissd")
    assert shapes["patch_embed.conv1.conv.weight"] == (48, 3, 4, 4)
    assert shapes["patch_embed.norm.weight"] == (48,)
    assert shapes["layers.0.downsample.conv.0.conv.weight"] == (96, 48, 3, 3)
    assert shapes["layers.0.downsample.norm.weight"] == (96,)
    assert shapes["layers.0.blocks.0.attn.in_proj.weight"] == (2 * 96 + 4 * 48 + 2, 48)  # 2E + 2·G·n + H with G = 2


@pytest.mark.parametrize("timm", [False, True], ids=["official", "timm"])
def test_mambaout_official_layout(timm):
    shapes = _official_shapes("mambaout_tiny", mambaout.TIMM_KEYMAP if timm else None)
    if timm:
        expected = {
            "stem.conv1.weight": (48, 3, 3, 3),
            "stages.1.downsample.conv.weight": (192, 96, 3, 3),
            "stages.0.blocks.0.fc1.weight": (512, 96),
            "head.norm.weight": (576,),
            "head.pre_logits.fc.weight": (2304, 576),
            "head.pre_logits.norm.weight": (2304,),
            "head.fc.weight": (1000, 2304),
        }
    else:
        expected = {
            "downsample_layers.0.conv1.weight": (48, 3, 3, 3),
            "downsample_layers.0.norm2.weight": (96,),
            "downsample_layers.1.conv.weight": (192, 96, 3, 3),
            "downsample_layers.3.norm.weight": (576,),
            "stages.0.0.norm.weight": (96,),
            "stages.0.0.fc1.weight": (512, 96),
            "stages.0.0.conv.weight": (96, 1, 7, 7),
            "stages.0.0.fc2.weight": (96, 256),
            "stages.2.8.fc1.bias": (2048,),
            "norm.weight": (576,),
            "head.fc1.weight": (2304, 576),
            "head.norm.weight": (2304,),
            "head.fc2.weight": (1000, 2304),
        }
    assert {k: shapes[k] for k in expected} == expected


@pytest.mark.parametrize("name", ["vmamba_hybrid1_pico", "gconvnet_pico", "mambaout_femto", "vssd_micro_bissd"])
def test_round_trip(name, shrink):
    source = Backbone(shrink(name))
    family = vmix.models.convert.family_of(name)
    official = family.KEYMAP.to_official(source.state_dict())
    target = strict_load(Backbone(shrink(name)), family.convert(official, source))
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_vmamba_legacy_names_and_shapes(shrink):
    model = Backbone(shrink("vmamba_pico"))
    official = vmamba.KEYMAP.to_official(model.state_dict())
    legacy = {}
    for key, value in official.items():
        key = key.replace("patch_embed.0.", "patch_embed.proj.").replace(".blocks.0.norm.", ".blocks.0.ln_1.")
        key = key.replace(".op.", ".self_attention.").replace("classifier.norm.", "norm.")
        if key.endswith(("in_proj.weight", "mlp.fc1.weight")):
            value = value[..., None, None]  # the channel-first model's (out, in, 1, 1)
        if key.endswith("x_proj_weight"):
            key, value = key.replace("x_proj_weight", "x_proj.weight"), value.flatten(0, 1)  # grouped Linear
        legacy[key] = value
    assert "patch_embed.proj.weight" in legacy and "norm.weight" in legacy
    converted = vmamba.convert(legacy, model)
    for key, value in model.state_dict().items():
        assert torch.equal(converted[key], value), key


def test_timm_mambaout(shrink):
    model = Backbone(shrink("mambaout_femto"))
    converted = mambaout.convert(mambaout.TIMM_KEYMAP.to_official(model.state_dict()), model)
    assert all(torch.equal(converted[k], v) for k, v in model.state_dict().items())


def test_strict_errors_name_the_keys(shrink):
    model = Backbone(shrink("vssd_micro"))
    official = vssd.KEYMAP.to_official(model.state_dict())
    broken = dict(official)
    del broken["layers.0.blocks.0.attn.A_log"]
    broken["layers.0.blocks.0.attn.extra"] = torch.zeros(1)
    broken["head.weight"] = torch.zeros(3, 48)
    with pytest.raises(ValueError) as info:
        vssd.convert(broken, model)
    message = str(info.value)
    assert "missing keys: layers.0.blocks.0.attn.A_log" in message
    assert "unexpected keys: layers.0.blocks.0.attn.extra" in message
    assert "head.fc.weight: checkpoint (3, 48) vs model (1000, 48)" in message


def test_unwrap_checkpoint():
    weights = {"a": torch.zeros(1)}
    ema = {"a": torch.ones(1)}
    assert unwrap_checkpoint({"model": weights, "model_ema": ema, "epoch": 1}) is weights
    assert unwrap_checkpoint({"model": weights, "model_ema": ema}, ema=True) is ema
    assert unwrap_checkpoint({"module.a": torch.zeros(1)}).keys() == {"a"}
    with pytest.raises(ValueError, match="not tensors: epoch"):
        unwrap_checkpoint({"a": torch.zeros(1), "epoch": 3})


def test_load_official_by_name():
    model = vmix.create_model("mambaout_femto", num_classes=3)
    checkpoint = {"model": mambaout.KEYMAP.to_official(model.state_dict()), "epoch": 300}
    loaded = load_official("mambaout_femto", checkpoint, num_classes=3)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="shape mismatches"):
        load_official("mambaout_femto", checkpoint)  # 1000 classes by default
    with pytest.raises(KeyError, match="did you mean"):
        load_official("mambaout_fmto", checkpoint)


# ------------------------------------------------------------------------------------------------ known answers
def _fill(key: str, shape, generator) -> torch.Tensor:
    """Deterministic, well-scaled weights for an official key (independent of vmix's init order)."""
    if key.endswith("num_batches_tracked"):
        return torch.tensor(0)
    if key.endswith("running_var"):
        return 0.5 + torch.rand(shape, generator=generator)
    value = torch.randn(shape, generator=generator)
    if len(shape) >= 2:
        return value / (torch.Size(shape).numel() / shape[0]) ** 0.5
    return 1.0 + 0.1 * value if key.endswith("weight") else 0.1 * value


def _known_answer(family: str, shapes: dict, shrink):
    name = KNOWN_ANSWER_MODELS[family]
    model = Backbone(shrink(name, num_classes=10)).eval()
    generator = torch.Generator().manual_seed(0)
    official = {k: _fill(k, tuple(shapes[k]), generator) for k in sorted(shapes)}
    strict_load(model, FAMILIES[family].convert(official, model))
    x = torch.randn(2, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("family", sorted(KNOWN_ANSWER_MODELS))
def test_known_answer(family, shrink):
    path = FIXTURES / f"{family}.json"
    if os.environ.get("VMIX_REGENERATE_FIXTURES") == "1":
        model = Backbone(shrink(KNOWN_ANSWER_MODELS[family], num_classes=10))
        shapes = {k: list(v.shape) for k, v in FAMILIES[family].KEYMAP.to_official(model.state_dict()).items()}
        logits = _known_answer(family, shapes, shrink)
        record = {"model": KNOWN_ANSWER_MODELS[family], "shapes": shapes, "logits": logits.tolist()}
        path.write_text(json.dumps(record, separators=(",", ":")) + "\n")
    record = json.loads(path.read_text())
    logits = _known_answer(family, record["shapes"], shrink)
    torch.testing.assert_close(logits, torch.tensor(record["logits"]), rtol=1e-4, atol=1e-5)
