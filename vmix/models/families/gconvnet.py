"""GConvNet (the gated-convolution baseline of "Demystify Mamba in Vision", §3.1) and its hybrids.

VMamba's macro (v2 stem, v3 downsample, LN → pool → Linear head, LN eps 1e-5) with SS2D replaced by a gated 7×7
depthwise convolution (:class:`~vmix.layers.GatedDWConv`, expansion 2, no biases, out_norm before the SiLU gate) and
FFN ratio 3; depths [2,2,6,2] (pico, tiny) and [2,2,17,2] (small).

The paper's Table 1 cannot be reproduced exactly by any natural block. This is the spec's block A, whose counts
follow the closed forms ``params = 12C² + 110C`` and ``FLOPs = H·W·(12C² + 118C)`` per block:

| size | vmix params / FLOPs | paper | gap |
| --- | --- | --- | --- |
| pico | 7.982M / 1.2664G | 8.0M / 1.27G | -0.2% / -0.3% |
| tiny | 30.666M / 4.8738G | 30.8M / 4.88G | -0.4% / -0.1% |
| small | 50.595M / 8.7865G | 50.8M / 8.79G | -0.4% / -0.04% |

The FLOP gap closes if the gate product is counted as one FLOP per element (fvcore counts elementwise products as
zero), the parameter gap if each block carried 24·C parameters without FLOPs (exactly SS2D's A_logs, Ds and
dt_projs_bias left behind); neither is built here. No official weights exist; :func:`convert` reads checkpoints
saved from the VMamba codebase, whose key layout these models share.
"""

from __future__ import annotations

from vmix.models._registry import register_model
from vmix.models.configs import BlockConfig, ModelConfig
from vmix.models.families.vmamba import KEYMAP, register_hybrids, vmamba_config

__all__ = ["GATED_BLOCK", "KEYMAP", "convert", "gconvnet_config"]


GATED_BLOCK = BlockConfig(
    "vss", "gated_dwconv", {"expand": 2.0, "kernel_size": 7, "conv_bias": False}, mlp_ratio=3.0, norm_eps=1e-5
)
"""GConvNet's block: gated 7×7 depthwise convolution (E = 2C), FFN ratio 3, LN eps 1e-5."""


def gconvnet_config(dims, depths, drop_path_rate: float) -> ModelConfig:
    """VMamba's macro with gated 7×7 depthwise-conv blocks (E = 2C) and FFN ratio 3.

    Example:
        >>> gconvnet_config((96, 192, 384, 768), (2, 2, 6, 2), 0.2).depths
        (2, 2, 6, 2)
    """
    return vmamba_config(dims, depths, drop_path_rate, block=GATED_BLOCK)


PICO = register_model("gconvnet_pico", gconvnet_config((48, 96, 192, 384), (2, 2, 6, 2), 0.025))
TINY = register_model("gconvnet_tiny", gconvnet_config((96, 192, 384, 768), (2, 2, 6, 2), 0.2))
SMALL = register_model("gconvnet_small", gconvnet_config((96, 192, 384, 768), (2, 2, 17, 2), 0.3))

register_hybrids("gconvnet", PICO, TINY, SMALL)


def convert(state_dict, model):
    """A VMamba-layout state_dict of a GConvNet model → ``model``'s keys and shapes (see the module docstring)."""
    return KEYMAP.to_vmix(state_dict, model.state_dict())
