"""VSSD (Shi et al., 2024): non-causal SSD blocks with local perception units, MSA in the last stage.

MLLA's BN conv stem and downsamples, VSSD blocks (LPU, LN → NC-SSD, LPU, LN → FFN 4) in stages 1-3 and the same
block with attention (no qkv bias) in stage 4, a LN → pool → Linear head. Depths follow the official code, so Small
and Base have 21 blocks in stage 3 (the paper's Table 1 prints 18, a typo: only 21 gives its 40M / 89M).

The Table 5 ablations (micro width, d_state 48, depths [2,4,8,4], "Patch" stem and downsample) change only the
mixers: ``vssd_micro_ssd`` (causal SSD everywhere), ``vssd_micro_bissd`` (bidirectional SSD, 2 groups),
``vssd_micro_ncssd`` (NC-SSD everywhere), ``vssd_micro_hybrid_patch`` (NC-SSD ×3 + MSA).
"""

from __future__ import annotations

from vmix.models._registry import register_model
from vmix.models.configs import BlockConfig, ModelConfig, StageConfig
from vmix.models.convert import KeyMap

__all__ = ["KEYMAP", "convert", "vssd_config"]

VSSD_MIXERS = ("nc_ssd", "nc_ssd", "nc_ssd", "attention")


def vssd_config(
    dim: int,
    depths,
    heads,
    d_state: int,
    drop_path_rate: float,
    *,
    mixers=VSSD_MIXERS,
    groups: int = 1,
    stem: str = "vssd_conv",
    downsample: str = "mlla",
) -> ModelConfig:
    """VSSD's macro: widths ``dim · 2^i``, one mixer kind per stage, ``heads[i]`` heads in stage ``i``.

    Example:
        >>> vssd_config(48, (2, 2, 8, 4), (2, 4, 8, 16), 48, 0.2).dims
        (48, 96, 192, 384)
    """
    stages = []
    for i, (depth, n_heads, mixer) in enumerate(zip(depths, heads, mixers, strict=True)):
        if mixer == "attention":
            options = {"heads": n_heads, "qkv_bias": False}
        else:
            options = {"heads": n_heads, "d_state": d_state, "expand": 2, "d_conv": 3, "groups": groups}
        block = BlockConfig("vssd", mixer, options, mlp_ratio=4.0, norm_eps=1e-5)
        stages.append(StageConfig(dim * 2**i, (block,) * depth))
    return ModelConfig(
        stem=stem,
        downsample=downsample,
        stages=tuple(stages),
        head="norm_pool_linear",
        norm_eps=1e-5,
        drop_path_rate=drop_path_rate,
    )


HEADS, WIDE_HEADS = (2, 4, 8, 16), (3, 6, 12, 24)
register_model("vssd_micro", vssd_config(48, (2, 2, 8, 4), HEADS, 48, 0.2))
register_model("vssd_tiny", vssd_config(64, (2, 4, 8, 4), HEADS, 64, 0.2))
register_model("vssd_small", vssd_config(64, (3, 4, 21, 5), HEADS, 64, 0.4))
register_model("vssd_base", vssd_config(96, (3, 4, 21, 5), WIDE_HEADS, 64, 0.6))

# Table 5: micro width, d_state 48, depths [2,4,8,4], the "Patch" stem and downsample.
for suffix, mixers, groups in (
    ("ssd", ("ssd",) * 4, 1),
    ("bissd", ("bi_ssd",) * 4, 2),
    ("ncssd", ("nc_ssd",) * 4, 1),
    ("hybrid_patch", VSSD_MIXERS, 1),
):
    ablation = vssd_config(
        48, (2, 4, 8, 4), HEADS, 48, 0.2, mixers=mixers, groups=groups, stem="vssd_patch", downsample="patch"
    )
    register_model(f"vssd_micro_{suffix}", ablation)

KEYMAP = KeyMap(
    renames=(
        ("patch_embed.", "stem."),
        ("layers.{i}.blocks.{j}.attn.to_qkv.", "layers.{i}.blocks.{j}.attn.qkv."),
        ("layers.{i}.blocks.{j}.attn.to_out.", "layers.{i}.blocks.{j}.attn.proj."),
        ("norm.", "head.norm."),
        ("head.", "head.fc."),
    ),
)


def convert(state_dict, model):
    """Official VSSD classification state_dict → ``model``'s keys.

    Example:
        >>> import vmix
        >>> model = vmix.create_model("vssd_micro")
        >>> sd = convert(KEYMAP.to_official(model.state_dict()), model)
    """
    return KEYMAP.to_vmix(state_dict, model.state_dict())
