"""No model layer-normalises a 4-D ``(b, h, w, c)`` map: norms run on the flat ``(b, h·w, c)`` token sequence.

Why it matters: for a graph with convolutions, Inductor's layout optimisation gives 4-D intermediates channels-last
strides, which for a tensor that is already channels-last puts ``h`` innermost; the norms' saved activations were
then written and read transposed (``bench/RESULTS.md``: 1.1-1.2× on whole models on the GPU once they were not).
"""

from unittest import mock

import pytest
import torch
import torch.nn.functional as F

import vmix
from vmix.models import Backbone


@pytest.mark.parametrize("name", vmix.list_models())
def test_no_layer_norm_sees_a_map(name, shrink):
    model = Backbone(shrink(name)).eval()
    shapes = []
    layer_norm = F.layer_norm

    def recording(x, *args, **kwargs):
        shapes.append(tuple(x.shape))
        return layer_norm(x, *args, **kwargs)

    with mock.patch.object(F, "layer_norm", recording), torch.no_grad():
        model(torch.randn(2, 3, 32, 40))
    maps = [shape for shape in shapes if len(shape) == 4]
    assert not maps, f"{name}: layer norms applied to 4-D maps {maps}"
