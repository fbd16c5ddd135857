"""Analysis tools: parameter/FLOP counting as the papers count, effective receptive fields, VSSD's m maps, and
robustness metrics (ImageNet-C mCE, ImageNet-A/R)."""

from vmix._lazy import lazy_exports

_EXPORTS = {
    "count_params": ".flops",
    "count_flops": ".flops",
    # robustness metrics and ImageNet class lists
    "mce": ".robustness",
    "relative_mce": ".robustness",
    "corruption_report": ".robustness",
    "CorruptionReport": ".robustness",
    "STANDARD_CORRUPTIONS": ".robustness",
    "EXTRA_CORRUPTIONS": ".robustness",
    "ALEXNET_ERRORS": ".robustness",
    "imagenet_indices": ".imagenet",
    "IMAGENET_A_INDICES": ".imagenet",
    "IMAGENET_R_INDICES": ".imagenet",
    # evaluation
    "Accuracy": ".evaluation",
    "evaluate": ".evaluation",
    "evaluate_dataset": ".evaluation",
    "evaluate_imagenet_a": ".evaluation",
    "evaluate_imagenet_r": ".evaluation",
    "evaluate_imagenet_c": ".evaluation",
    "evaluate_corrupted": ".evaluation",
    "load_images": ".evaluation",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
