"""MambaOut (Yu & Wang, 2024): Gated CNN blocks, no SSM, and the GConvNet paper's Table 4 head ablation.

The v2-style conv stem, conv 3×3/s2 + LN downsamples, Gated CNN blocks (expansion 8/3, 7×7 depthwise conv on the
last C channels of the value half, GELU gate, one residual), and a pool → LN → MLP head with a hidden LN. Every LN
has eps 1e-6 and convolutions get the Linears' trunc_normal(0.02) init, as in the official code. Parameters match
the official model exactly (tiny 26,545,096: "26.5M" in the GConvNet paper's Table 4).

``mambaout_tiny_linear_head`` is Table 4's "MambaOut w/o MLP classifier": the Tiny block stack with its last width
576 → 768 and its MLP head reduced to the classifier: pool → LN → Linear (30.566M; 4.8207G as fvcore counts it).

:func:`convert` reads both the official layout (``downsample_layers``, ``stages.i.j``) and timm's renaming of it
(``stem``, ``stages.i.blocks.j``, ``head.pre_logits``).
"""

from __future__ import annotations

import dataclasses

from vmix.models._registry import register_model
from vmix.models.configs import BlockConfig, ModelConfig, uniform_stages
from vmix.models.convert import KeyMap

__all__ = ["KEYMAP", "TIMM_KEYMAP", "convert", "mambaout_config"]


def mambaout_config(dims, depths, drop_path_rate: float) -> ModelConfig:
    """MambaOut's macro: Gated CNN blocks (ratio 8/3, kernel 7), MLP head, LN eps 1e-6, trunc_normal convs.

    Example:
        >>> mambaout_config((96, 192, 384, 576), (3, 3, 9, 3), 0.2).head
        'pool_norm_mlp'
    """
    block = BlockConfig("gated_cnn", None, {"kernel_size": 7, "conv_ratio": 1.0}, mlp_ratio=8 / 3, norm_eps=1e-6)
    return ModelConfig(
        stem="conv2",
        downsample="conv_ln",
        stages=uniform_stages(dims, depths, block),
        head="pool_norm_mlp",
        head_hidden_ratio=4.0,
        norm_eps=1e-6,
        drop_path_rate=drop_path_rate,
        conv_init="trunc_normal",
    )


register_model("mambaout_femto", mambaout_config((48, 96, 192, 288), (3, 3, 9, 3), 0.025))
register_model("mambaout_kobe", mambaout_config((48, 96, 192, 288), (3, 3, 15, 3), 0.025))
TINY = register_model("mambaout_tiny", mambaout_config((96, 192, 384, 576), (3, 3, 9, 3), 0.2))
register_model("mambaout_small", mambaout_config((96, 192, 384, 576), (3, 4, 27, 3), 0.4))
register_model("mambaout_base", mambaout_config((128, 256, 512, 768), (3, 4, 27, 3), 0.6))

# GConvNet paper, Table 4: the Tiny block stack, last width 768, no MLP in the head.
register_model(
    "mambaout_tiny_linear_head",
    dataclasses.replace(mambaout_config((96, 192, 384, 768), (3, 3, 9, 3), 0.2), head_hidden_ratio=0.0),
)

_HEAD = (
    ("norm.", "head.norm."),
    ("head.fc1.", "head.pre_logits.fc."),
    ("head.norm.", "head.pre_logits.norm."),
    ("head.fc2.", "head.fc."),
)
KEYMAP = KeyMap(
    renames=(
        ("downsample_layers.0.", "stem."),
        # the official model downsamples at the start of stages 1-3; vmix at the end of stages 0-2
        *((f"downsample_layers.{k}.", f"layers.{k - 1}.downsample.") for k in (1, 2, 3)),
        ("stages.{i}.{j}.", "layers.{i}.blocks.{j}."),
        *_HEAD,
    ),
    reshape=(r"\.(fc1|fc2|fc)\.weight$",),
)
TIMM_KEYMAP = KeyMap(
    renames=(
        *((f"stages.{k}.downsample.", f"layers.{k - 1}.downsample.") for k in (1, 2, 3)),
        ("stages.{i}.blocks.{j}.", "layers.{i}.blocks.{j}."),
    ),
)


def convert(state_dict, model):
    """Official or timm MambaOut state_dict → ``model``'s keys (timm's is recognised by its ``stem.`` keys).

    Example:
        >>> import vmix
        >>> model = vmix.create_model("mambaout_femto")
        >>> sd = convert(TIMM_KEYMAP.to_official(model.state_dict()), model)
    """
    keymap = TIMM_KEYMAP if any(k.startswith("stem.") for k in state_dict) else KEYMAP
    return keymap.to_vmix(state_dict, model.state_dict())
