"""Image-classification data for training and evaluation: sources, the papers' augmentation recipe, resumable loaders.

Sources go through Hugging Face ``datasets`` (a hub id, a local parquet or ImageFolder copy, or an embedded set that
installs from the package registries: scikit-learn's digits, Debian's Fashion-MNIST); see
:func:`load_image_dataset`. Needs the ``train`` extra (``pip install "vmix[train]"``).

Example:
    >>> from vmix.data import AugmentConfig, build_transforms, load_image_dataset
    >>> splits = load_image_dataset("digits")
    >>> image_tf, batch_tf = build_transforms(AugmentConfig(img_size=32, backend="kornia"), train=True, num_classes=10)
    >>> image_tf(splits.train[0]["image"]).shape
    torch.Size([3, 32, 32])
"""

from vmix._lazy import lazy_exports

_EXPORTS = {
    "ImageFiles": ".sources",
    "ImageSplits": ".sources",
    "load_image_dataset": ".sources",
    "AugmentConfig": ".transforms",
    "KorniaBatchTransform": ".transforms",
    "KorniaImageTransform": ".transforms",
    "MixupCutmix": ".transforms",
    "build_transforms": ".transforms",
    "resolve_backend": ".transforms",
    "smooth_one_hot": ".transforms",
    "soft_cross_entropy": ".transforms",
    "timm_available": ".transforms",
    "ClassificationDataset": ".loader",
    "ResumableSampler": ".loader",
    "build_loader": ".loader",
    "close_loader": ".loader",
    "sample_seed": ".loader",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
