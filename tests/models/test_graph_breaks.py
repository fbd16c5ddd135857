"""Every registered model traces into one graph: no graph break in training (drop path on) under torch.compile.

Dynamo alone (``torch._dynamo.explain``), no Inductor, on the small configs. Models whose small configs share one
structure (sizes of a family: same stem, blocks, mixers and head) trace the same code, so the default run takes
one of each structure and the rest run with ``-m slow``.
"""

import pytest
import torch

import vmix
from vmix.models import Backbone


def _structure(name: str) -> str:
    """What decides the traced code: stem, downsample, head, and each stage's distinct blocks (not widths, depths)."""
    config = vmix.models.get_config(name)
    stages = []
    for stage in config.stages:
        distinct = []
        for block in stage.blocks:
            if block not in distinct:
                distinct.append(block)
        stages.append(tuple(distinct))
    return repr((config.stem, config.downsample, config.head, config.head_hidden_ratio > 0, tuple(stages)))


def _cases():
    seen = set()
    for name in vmix.list_models():
        structure = _structure(name)
        yield name if structure not in seen else pytest.param(name, marks=pytest.mark.slow)
        seen.add(structure)


@pytest.mark.compile
@pytest.mark.parametrize("name", list(_cases()))
def test_model_traces_into_one_graph(name, shrink):
    torch.manual_seed(0)
    model = Backbone(shrink(name, drop_path_rate=0.1)).train()
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(torch.randn(2, 3, 32, 40))
    reasons = [str(b.reason) for b in explained.break_reasons]
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), f"{name} breaks its graph: {reasons}"
