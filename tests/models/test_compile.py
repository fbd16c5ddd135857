"""Every block kind (and one whole model, whole and by regions) compiles with ``fullgraph=True`` on CPU and matches
eager."""

import copy

import pytest
import torch

import vmix
from vmix.models import Backbone

# (registered model, stage, block) holding each block kind / mixer pairing
BLOCKS = {
    "vss-ss2d": ("vmamba_pico", 0, 0),
    "vss-gated_dwconv": ("gconvnet_pico", 0, 0),
    "transformer": ("gconvnet_hybrid2_pico", 3, 0),
    "vssd-nc_ssd": ("vssd_micro", 0, 0),
    "vssd-attention": ("vssd_micro", 3, 0),
    "gated_cnn": ("mambaout_femto", 0, 0),
}
# the causal ablation mixers compile slowly on CPU (about 50 s each): kept out of the default run
SLOW_BLOCKS = {"vssd-ssd": ("vssd_micro_ssd", 0, 0), "vssd-bi_ssd": ("vssd_micro_bissd", 0, 0)}


@pytest.mark.compile
@pytest.mark.parametrize(
    "kind", sorted(BLOCKS) + [pytest.param(k, marks=pytest.mark.slow) for k in sorted(SLOW_BLOCKS)]
)
def test_block_compiles(kind, shrink):
    name, stage, index = {**BLOCKS, **SLOW_BLOCKS}[kind]
    torch.manual_seed(0)
    model = Backbone(shrink(name)).eval()
    block = model.layers[stage].blocks[index]
    x = torch.randn(2, 5, 7, model.config.dims[stage])
    torch._dynamo.reset()
    compiled = torch.compile(block, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), block(x), rtol=1e-4, atol=1e-5)


@pytest.mark.compile
@pytest.mark.slow
def test_whole_model_compiles(shrink):
    torch.manual_seed(0)
    model = Backbone(shrink("vmamba_hybrid1_pico")).eval()
    x = torch.randn(1, 3, 36, 44)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.compile
def test_compile_regions_shares_one_graph_among_a_stages_blocks():
    # vmamba_pico has 11 blocks, each with its own drop-path rate; were the rate a guarded constant, each block
    # would need its own graph, and past Dynamo's 8 per code object fullgraph=True fails.
    torch.manual_seed(0)
    model = vmix.create_model("vmamba_pico", drop_path_rate=0.2)
    reference = copy.deepcopy(model).eval()
    model.compile_regions(fullgraph=True, backend="eager")
    x, labels = torch.randn(2, 3, 32, 32), torch.randint(0, 1000, (2,))
    torch._dynamo.reset()
    for stance in ("default", "fail_on_recompile"):
        with torch.compiler.set_stance(stance):
            torch.nn.functional.cross_entropy(model.train()(x), labels).backward()
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference(x))
