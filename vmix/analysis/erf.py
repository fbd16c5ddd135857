"""Effective receptive field (Luo et al., 2016), as measured for RepLKNet and VSSD's Fig. 5.

The ERF of a backbone is how much each input pixel moves the centre of its last feature map: the gradient of the
(ReLU'd, channel-summed) central output with respect to the input, its positive part summed over RGB, averaged over
images. Scores span orders of magnitude, so maps are compared after ``log10(x + 1)`` and division by the maximum; the
high-contribution area ratio at threshold t is the area of the smallest centred square holding a share t of the
scaled map's total, over the map's area (a larger ratio is a larger ERF).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor, nn

from vmix._shapecheck import shapecheck
from vmix.analysis.evaluation import LabeledImages, load_images, to_tensor

THRESHOLDS = (0.2, 0.3, 0.5, 0.99)


def last_feature_map(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """The function mapping images to the last stage's ``(B, C, H', W')`` map, head removed.

    A vmix backbone (anything with timm's ``forward_intermediates``) gives its last stage output; any other module is
    taken to return that map from its ``forward`` already.

    Example:
        >>> fn = last_feature_map(nn.Conv2d(3, 4, 3))
        >>> fn(torch.zeros(1, 3, 8, 8)).shape
        torch.Size([1, 4, 6, 6])
    """
    if hasattr(model, "forward_intermediates"):
        return lambda x: model.forward_intermediates(x, indices=1, output_fmt="NCHW", intermediates_only=True)[-1]
    return model


def erf_map(
    model: nn.Module,
    images: Iterable[Float[Tensor, "b 3 h w"]],
    *,
    device: str | torch.device | None = None,
) -> Float[Tensor, "h w"]:
    """Average contribution of each input pixel to the centre of the last feature map (unscaled).

    Args:
        model: a backbone (see :func:`last_feature_map`); put in eval mode here (fixed norms, no drop-path).
        images: batches of normalised images, all the same size (RepLKNet uses 50 ImageNet val images at 1024²).
        device: where to run (default: the model's).

    Returns:
        The mean over images of ``relu(∂ relu(y_center).sum() / ∂x)`` summed over RGB, ``(h, w)``, float64.

    Raises:
        ValueError: no image gave a finite map.

    Example:
        >>> m = erf_map(nn.Conv2d(3, 2, 3, padding=1), [torch.randn(1, 3, 9, 9)])
        >>> m.shape, bool(m[4, 4] >= 0)
        (torch.Size([9, 9]), True)
    """
    model.eval()
    if device is None:
        device = next(model.parameters(), torch.empty(0)).device
    features = last_feature_map(model)
    total: Tensor | None = None
    count = 0
    for batch in images:
        x = batch.to(device).requires_grad_(True)
        y = features(x)
        if y.ndim != 4:
            raise ValueError(f"expected the feature map to be (B, C, H, W), got shape {tuple(y.shape)}")
        center = y[:, :, y.shape[2] // 2, y.shape[3] // 2]
        (grad,) = torch.autograd.grad(torch.relu(center).sum(), x)
        contribution = torch.relu(grad).sum(dim=(0, 1)).double().cpu()
        if not torch.isfinite(contribution).all():
            continue  # RepLKNet's recipe skips the rare image whose gradient overflows
        total = contribution if total is None else total + contribution
        count += batch.shape[0]
    if total is None:
        raise ValueError("no image gave a finite ERF map (empty image iterable, or every gradient was NaN/inf)")
    return total / count


@shapecheck
def scale_erf(erf: Float[Tensor, "h w"]) -> Float[Tensor, "h w"]:
    """``log10(erf + 1)`` divided by its maximum: in [0, 1], comparable between models.

    Example:
        >>> scale_erf(torch.tensor([[0.0, 9.0], [99.0, 0.0]])).tolist()
        [[0.0, 0.5], [1.0, 0.0]]
    """
    logged = torch.log10(erf.double() + 1)
    peak = logged.max()
    return logged / peak if peak > 0 else logged


@shapecheck
def area_ratios(scaled: Float[Tensor, "h w"], thresholds: Sequence[float] = THRESHOLDS) -> dict[float, float | None]:
    """High-contribution area ratio at each threshold: the smallest centred square holding that share of the total.

    Squares have odd sides 3, 5, ... up to ``2 * (min(h, w) // 2 - 1) + 1``; a threshold that no such square reaches
    gives ``None``.

    Args:
        scaled: an ERF map, usually :func:`scale_erf`'s output.
        thresholds: shares in (0, 1].

    Returns:
        threshold → side² / (h·w), or ``None``.

    Example:
        >>> ratio = area_ratios(torch.ones(10, 10), [0.09, 0.5])
        >>> ratio[0.09], ratio[0.5]
        (0.25, 0.81)
    """
    h, w = scaled.shape
    data = scaled.double()
    # Integral image: the sum of any square in O(1).
    integral = torch.nn.functional.pad(data.cumsum(0).cumsum(1), (1, 0, 1, 0))
    ci, cj = h // 2, w // 2
    radii = torch.arange(1, min(h, w) // 2)
    top, bottom = (ci - radii).clamp(min=0), (ci + radii + 1).clamp(max=h)
    left, right = (cj - radii).clamp(min=0), (cj + radii + 1).clamp(max=w)
    inside = integral[bottom, right] - integral[top, right] - integral[bottom, left] + integral[top, left]
    total = data.sum()
    out: dict[float, float | None] = {}
    for t in thresholds:
        reached = torch.nonzero(inside > t * total)
        side = None if reached.numel() == 0 else 2 * int(radii[reached[0, 0]]) + 1
        out[float(t)] = None if side is None else side * side / (h * w)
    return out


def erf_inputs(
    source: str | Path | LabeledImages | None,
    *,
    size: int = 1024,
    num_images: int = 50,
    seed: int = 0,
) -> list[Float[Tensor, "1 3 s s"]]:
    """Normalised ``size × size`` inputs for :func:`erf_map`: dataset images resized (bicubic), or Gaussian noise.

    Args:
        source: a dataset as for :func:`vmix.analysis.evaluation.load_images`, or ``None`` for standard-normal noise
            images (Luo et al.'s random-input ERF).
        size: side of the square input (1024 in RepLKNet and VSSD: far from the borders).
        num_images: how many images.
        seed: picks the noise.

    Example:
        >>> [x.shape for x in erf_inputs(None, size=8, num_images=2)]
        [torch.Size([1, 3, 8, 8]), torch.Size([1, 3, 8, 8])]
    """
    if source is None:
        generator = torch.Generator().manual_seed(seed)
        return [torch.randn(1, 3, size, size, generator=generator) for _ in range(num_images)]
    from PIL import Image

    images = source if isinstance(source, LabeledImages) else load_images(source)
    out = []
    for i in range(min(num_images, len(images))):
        image, _ = images.load(i)
        out.append(to_tensor(np.asarray(image.resize((size, size), Image.BICUBIC)))[None])
    return out


def plot_erf(scaled: Float[Tensor, "h w"], path: str | Path, *, title: str = "", ratios: Mapping | None = None):
    """Save a scaled ERF map as a heat-map PNG, the area ratios printed under it.

    Args:
        scaled: the map, in [0, 1].
        path: output PNG.
        title: figure title (e.g. the model name).
        ratios: threshold → area ratio, from :func:`area_ratios`.

    Example:
        >>> import tempfile
        >>> plot_erf(torch.rand(8, 8), Path(tempfile.mkdtemp()) / "erf.png", title="demo")
    """
    plot_erf_grid({"": {title: scaled}}, path, ratios={"": {title: ratios}} if ratios else None)


def _format_ratios(ratios: Mapping[float, float | None]) -> str:
    return "  ".join(f"t={t:g}: {'>max' if r is None else f'{r:.3f}'}" for t, r in ratios.items())


def plot_erf_grid(
    maps: Mapping[str, Mapping[str, Tensor]],
    path: str | Path,
    *,
    ratios: Mapping[str, Mapping[str, Mapping | None]] | None = None,
):
    """Save scaled ERF maps side by side, one row per condition and one column per model (VSSD Fig. 5's layout).

    Args:
        maps: row label (e.g. ``"before training"``) → column label (model name) → scaled map.
        path: output PNG.
        ratios: same keys → area ratios, printed under each map.

    Example:
        >>> import tempfile
        >>> grid = {"random init": {"a": torch.rand(8, 8), "b": torch.rand(8, 8)}}
        >>> plot_erf_grid(grid, Path(tempfile.mkdtemp()) / "grid.png")
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(maps)
    cols = list(dict.fromkeys(c for r in rows for c in maps[r]))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(3.2 * len(cols), 3.4 * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if col not in maps[row]:
                ax.axis("off")
                continue
            ax.imshow(maps[row][col].detach().cpu().numpy(), cmap="RdYlGn", vmin=0, vmax=1)
            if i == 0:
                ax.set_title(col)
            if j == 0 and row:
                ax.set_ylabel(row)
            r = (ratios or {}).get(row, {}).get(col)
            if r:
                ax.set_xlabel(_format_ratios(r), fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
