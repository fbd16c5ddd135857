"""Every registered model compiles into one graph, once: no graph break in training (drop path on), and no
recompilation at the second step.

Dynamo alone (the ``eager`` backend: no Inductor), on the small configs. Models whose small configs share one
structure (sizes of a family: same stem, blocks, mixers and head) trace the same code, so the default run takes
one of each structure and the rest run with ``-m slow``.
"""

import einops
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
def test_model_compiles_into_one_graph_once(name, shrink):
    torch.manual_seed(0)
    model = Backbone(shrink(name, drop_path_rate=0.1)).train()
    x, labels = torch.randn(2, 3, 32, 40), torch.randint(0, 10, (2,))
    # As in a fresh process: einops knows only torch.Tensor (torch registers it when Dynamo loads). A model that
    # hands einops another type (a Parameter) changes einops' backend cache inside the first compiled step, and
    # the second step recompiles; earlier tests in this process may have registered such types already.
    einops._backends._type2backend.clear()
    einops.rearrange(torch.empty(1), "i -> i")
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")  # a graph break raises
    for stance in ("default", "fail_on_recompile"):
        with torch.compiler.set_stance(stance):
            torch.nn.functional.cross_entropy(compiled(x)[:, :10], labels).backward()
