"""Heat maps of NC-SSD's token weights m, overlaid on the input image (VSSD, Fig. 3).

NC-SSD weighs each token's contribution to the shared hidden state by m = Δ·(−A) per head; VSSD shows its mean over
heads as a heat map and observes that m picks out the foreground. Every mixer that exposes
``token_weights(x) -> (b, h, w, heads)`` (vmix's ``NCSSD``) is found in the model, its input is captured with a
forward pre-hook during one forward pass, and its m is computed from that input afterwards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor, nn


def token_weight_maps(model: nn.Module, image: Float[Tensor, "1 3 h w"]) -> dict[str, Float[Tensor, "h2 w2"]]:
    """m averaged over heads for every block whose mixer has ``token_weights``, at that block's resolution.

    Args:
        model: a model containing NC-SSD mixers (e.g. a ``vssd_*`` model).
        image: one normalised image.

    Returns:
        Module name → ``(h', w')`` map of the mean over heads of m, in forward order.

    Raises:
        ValueError: the model has no mixer with ``token_weights``.

    Example:
        >>> class Mixer(nn.Module):  # stands in for vmix.NCSSD: any module with token_weights
        ...     def forward(self, x):
        ...         return x
        ...     def token_weights(self, x):
        ...         return x.permute(0, 2, 3, 1).abs()
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 4, stride=4), Mixer())
        >>> {k: tuple(v.shape) for k, v in token_weight_maps(model, torch.randn(1, 3, 16, 16)).items()}
        {'1': (4, 4)}
    """
    mixers = {name: m for name, m in model.named_modules() if callable(getattr(m, "token_weights", None))}
    if not mixers:
        raise ValueError("the model has no mixer with a `token_weights(x)` method (NC-SSD); m maps need one")
    inputs: dict[str, Tensor] = {}
    hooks = [
        module.register_forward_pre_hook(lambda _m, args, name=name: inputs.setdefault(name, args[0].detach()))
        for name, module in mixers.items()
    ]
    model.eval()
    try:
        with torch.inference_mode():
            model(image)
            return {name: mixers[name].token_weights(x).mean(-1)[0].float().cpu() for name, x in inputs.items()}
    finally:
        for hook in hooks:
            hook.remove()


def plot_token_weights(
    image: np.ndarray, maps: dict[str, Tensor], path: str | Path, *, columns: int = 6, alpha: float = 0.5
) -> None:
    """Save the input image and each block's m map upsampled and overlaid on it, as one PNG (VSSD Fig. 3).

    Args:
        image: the input as an ``h × w × 3`` uint8 array (before normalisation).
        maps: block name → map, from :func:`token_weight_maps`.
        path: output PNG.
        columns: panels per row.
        alpha: opacity of the heat map.

    Example:
        >>> import tempfile
        >>> img = np.zeros((16, 16, 3), dtype=np.uint8)
        >>> plot_token_weights(img, {"block": torch.rand(4, 4)}, Path(tempfile.mkdtemp()) / "m.png")
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = image.shape[:2]
    panels = 1 + len(maps)
    cols = min(columns, panels)
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(image)
    axes.flat[0].set_title("input", fontsize=8)
    for ax, (name, m) in zip(axes.flat[1:], maps.items(), strict=False):
        up = torch.nn.functional.interpolate(m[None, None].float(), size=(h, w), mode="bilinear", align_corners=False)
        up = up[0, 0]
        up = (up - up.min()) / (up.max() - up.min()).clamp(min=1e-12)  # per block: m's scale differs between blocks
        ax.imshow(image)
        ax.imshow(up.numpy(), cmap="jet", alpha=alpha, vmin=0, vmax=1)
        ax.set_title(name, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
