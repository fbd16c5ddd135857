"""VMamba (Liu et al., 2024), the ``v05_noz`` classification models, and the GConvNet paper's VMamba variants.

SS2D blocks (state size 1, expansion 2, 3×3 depthwise conv, no gate) in the v2 conv stem / v3 conv+LN downsample
macro with a LN → pool → Linear head. ``vmamba_pico`` is the GConvNet paper's width-48 Tiny; the hybrids replace
blocks of the last two stages by Transformer blocks (:func:`~vmix.models.configs.hybridize`);
``vmamba_tiny_mlp_head`` is the GConvNet paper's Table 4 ablation (last width 576, MambaOut's MLP head).

Parameters equal the official code's count exactly (pico 7,942,600, tiny 30,705,832, small 50,147,752); FLOPs
counted the paper's way are 1.2656G / 4.8577G / 8.7158G at 224².
"""

from __future__ import annotations

import dataclasses

from vmix.models._registry import register_model
from vmix.models.configs import BlockConfig, ModelConfig, hybridize, uniform_stages
from vmix.models.convert import KeyMap

__all__ = ["KEYMAP", "SS2D_BLOCK", "convert", "register_hybrids", "vmamba_config"]


SS2D_BLOCK = BlockConfig("vss", "ss2d", {"d_state": 1, "ssm_ratio": 2.0, "d_conv": 3}, mlp_ratio=4.0, norm_eps=1e-5)
"""VMamba's block: SS2D ``v05_noz`` (N = 1, E = 2C, R = ceil(C/16)), FFN ratio 4, LN eps 1e-5."""


def vmamba_config(dims, depths, drop_path_rate: float, block: BlockConfig = SS2D_BLOCK) -> ModelConfig:
    """VMamba's macro architecture (v2 conv stem, v3 conv+LN downsample, LN → pool → Linear head) around ``block``.

    The aligned comparison of the GConvNet paper is this function with another ``block``: nothing else changes.

    Example:
        >>> vmamba_config((48, 96, 192, 384), (2, 2, 5, 2), 0.025).depths
        (2, 2, 5, 2)
    """
    return ModelConfig(
        stem="conv2",
        downsample="conv_ln",
        stages=uniform_stages(dims, depths, block),
        head="norm_pool_linear",
        norm_eps=1e-5,
        drop_path_rate=drop_path_rate,
    )


def register_hybrids(family: str, pico: ModelConfig, tiny: ModelConfig, small: ModelConfig) -> None:
    """Register ``{family}_hybrid1_{pico,tiny,small}`` and ``{family}_hybrid2_{pico,tiny}`` (GConvNet paper §3.2).

    Hybrid1 spreads 2 (pico, tiny) or 4 (small) Transformer blocks over the last two stages; Hybrid2 puts 2 at the
    top of the last stage (the paper trains no Hybrid2-Small).
    """
    for size, config, n_attn in (("pico", pico, 2), ("tiny", tiny, 2), ("small", small, 4)):
        register_model(f"{family}_hybrid1_{size}", hybridize(config, n_attn, "proportional"))
    for size, config in (("pico", pico), ("tiny", tiny)):
        register_model(f"{family}_hybrid2_{size}", hybridize(config, 2, "top_down"))


PICO = register_model("vmamba_pico", vmamba_config((48, 96, 192, 384), (2, 2, 5, 2), 0.025))
TINY = register_model("vmamba_tiny", vmamba_config((96, 192, 384, 768), (2, 2, 5, 2), 0.2))
SMALL = register_model("vmamba_small", vmamba_config((96, 192, 384, 768), (2, 2, 15, 2), 0.3))

register_hybrids("vmamba", PICO, TINY, SMALL)

# GConvNet paper, Table 4: VMamba-Tiny with its last width cut to 576 and MambaOut's pool → LN → MLP head.
register_model(
    "vmamba_tiny_mlp_head",
    dataclasses.replace(
        vmamba_config((96, 192, 384, 576), (2, 2, 5, 2), 0.2), head="pool_norm_mlp", head_hidden_ratio=4.0
    ),
)

KEYMAP = KeyMap(
    renames=(
        ("patch_embed.0.", "stem.conv1."),
        ("patch_embed.2.", "stem.norm1."),
        ("patch_embed.5.", "stem.conv2."),
        ("patch_embed.7.", "stem.norm2."),
        ("layers.{i}.downsample.1.", "layers.{i}.downsample.conv."),
        ("layers.{i}.downsample.3.", "layers.{i}.downsample.norm."),
        ("classifier.norm.", "head.norm."),
        ("classifier.head.", "head.fc."),
    ),
    legacy=(
        # names older releases used, which the official loader renames
        ("patch_embed.proj.", "patch_embed.0."),
        ("patch_embed.norm.", "patch_embed.2."),
        ("layers.{i}.blocks.{j}.ln_1.", "layers.{i}.blocks.{j}.norm."),
        ("layers.{i}.blocks.{j}.self_attention.", "layers.{i}.blocks.{j}.op."),
        ("norm.weight", "classifier.norm.weight"),
        ("norm.bias", "classifier.norm.bias"),
        ("head.weight", "classifier.head.weight"),
        ("head.bias", "classifier.head.bias"),
        # the standalone vmamba.py stores the per-direction projections as grouped Linears
        ("layers.{i}.blocks.{j}.op.x_proj.weight", "layers.{i}.blocks.{j}.op.x_proj_weight"),
        ("layers.{i}.blocks.{j}.op.dt_projs.weight", "layers.{i}.blocks.{j}.op.dt_projs_weight"),
    ),
    # (out, in, 1, 1) Linear weights of the channel-first model; (K·(R+2N), E) and (K·E, R) grouped projections
    reshape=(r"\.(in_proj|out_proj|fc1|fc2|fc)\.weight$", r"\.(x_proj_weight|dt_projs_weight)$"),
)


def convert(state_dict, model):
    """Official VMamba classification state_dict (any of its key variants) → ``model``'s keys and shapes.

    Example:
        >>> import vmix
        >>> model = vmix.create_model("vmamba_pico")
        >>> sd = convert(KEYMAP.to_official(model.state_dict()), model)
    """
    return KEYMAP.to_vmix(state_dict, model.state_dict())
