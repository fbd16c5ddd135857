"""Small versions of registered configs for fast tests: widths divided by 8, one block of each distinct kind per
stage (so hybrids keep their Transformer blocks), attention heads of 8 channels."""

import dataclasses

import pytest
import torch

import vmix


def _shrink_block(block):
    if "head_dim" in block.mixer_options:
        return dataclasses.replace(block, mixer_options={**block.mixer_options, "head_dim": 8})
    return block


def _shrink(name: str, width_divisor: int = 8, **overrides) -> vmix.models.ModelConfig:
    config = vmix.models.get_config(name)
    stages = []
    for stage in config.stages:
        distinct = []
        for block in map(_shrink_block, stage.blocks):
            if block not in distinct:
                distinct.append(block)
        stages.append(dataclasses.replace(stage, dim=stage.dim // width_divisor, blocks=tuple(distinct)))
    return dataclasses.replace(config, stages=tuple(stages), **overrides)


@pytest.fixture(scope="session")
def shrink():
    """``shrink(name, width_divisor=8, **config_overrides)``: the small config of a registered model."""
    return _shrink


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # The models here are tiny: with several intra-op threads on a busy machine they spend their time waiting for each
    # other (measured 15× slower with 2 threads than with 1).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
