"""ERF maps are finite, normalised and grow with the receptive field; m maps are captured for every NC-SSD mixer."""

import pytest
import torch
from torch import nn

from vmix.analysis.erf import area_ratios, erf_inputs, erf_map, plot_erf_grid, scale_erf
from vmix.analysis.token_weights import plot_token_weights, token_weight_maps


def _convs(kernel: int, depth: int = 2) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(3 if i == 0 else 4, 4, kernel, padding=kernel // 2) for i in range(depth)]
    return nn.Sequential(*[m for conv in layers for m in (conv, nn.GELU())])


def test_erf_is_finite_normalised_and_local_for_convs():
    scaled = scale_erf(erf_map(_convs(3), erf_inputs(None, size=33, num_images=3)))
    assert scaled.shape == (33, 33) and torch.isfinite(scaled).all()
    assert scaled.min() >= 0 and scaled.max() == pytest.approx(1.0)
    assert scaled[:, :10].sum() == 0  # two 3x3 convs see 2 pixels each way from the centre, no further
    assert scaled[16, 16] > 0


def test_area_ratio_grows_with_kernel():
    inputs = erf_inputs(None, size=33, num_images=2)
    small, large = (area_ratios(scale_erf(erf_map(_convs(k), inputs))) for k in (3, 9))
    assert small[0.5] < large[0.5]
    assert all(v is None or 0 < v <= 1 for v in small.values())


def test_area_ratio_unreachable_is_none():
    ring = torch.zeros(9, 9)
    ring[0, :] = 1.0  # all weight on the border: no centred square short of the whole map holds it
    assert area_ratios(ring, [0.5]) == {0.5: None}


def test_erf_on_real_photos_and_figure(shared_data, tmp_path):
    pytest.importorskip("matplotlib")
    inputs = erf_inputs(shared_data / "imagenette2-224-samples", size=32, num_images=2)
    assert [x.shape for x in inputs] == [(1, 3, 32, 32)] * 2
    maps = {"random init": {"a": scale_erf(erf_map(_convs(3), inputs)), "b": scale_erf(erf_map(_convs(5), inputs))}}
    plot_erf_grid(maps, tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 1000


def test_no_finite_map_is_an_error():
    with pytest.raises(ValueError, match="no image gave a finite ERF map"):
        erf_map(_convs(3), [])


class _FakeMixer(nn.Module):
    """A channels-first stand-in exposing token_weights the way NC-SSD does."""

    def forward(self, x):
        return x

    def token_weights(self, x):
        return x.permute(0, 2, 3, 1).abs()


def test_token_weight_maps_hooks_every_mixer(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 2, stride=2), _FakeMixer(), nn.Conv2d(4, 4, 2, stride=2), _FakeMixer())
    maps = token_weight_maps(model, torch.randn(1, 3, 16, 16))
    assert {k: tuple(v.shape) for k, v in maps.items()} == {"1": (8, 8), "3": (4, 4)}
    assert not model[1]._forward_pre_hooks  # hooks are removed afterwards
    with pytest.raises(ValueError, match="token_weights"):
        token_weight_maps(nn.Conv2d(3, 4, 1), torch.randn(1, 3, 4, 4))
    pytest.importorskip("matplotlib")
    import numpy as np

    plot_token_weights(np.zeros((16, 16, 3), dtype=np.uint8), maps, tmp_path / "m.png")
    assert (tmp_path / "m.png").is_file()
