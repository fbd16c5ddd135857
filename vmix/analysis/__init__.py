"""Analysis tools: parameter/FLOP counting as the papers count, effective receptive fields, VSSD's m maps, and
robustness metrics (ImageNet-C mCE, ImageNet-A/R)."""

from vmix._lazy import lazy_exports

_EXPORTS = {
    "count_params": ".flops",
    "count_flops": ".flops",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
