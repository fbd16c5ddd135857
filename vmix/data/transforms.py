"""The papers' augmentation recipe (VMamba, VSSD, GConvNet all train with Swin's), through timm or kornia.

Training: RandomResizedCrop (scale 0.08-1, bicubic) → horizontal flip → RandAugment ``rand-m9-mstd0.5-inc1`` →
normalize → random erasing 0.25; per batch, Mixup 0.8 / CutMix 1.0 switched with probability 0.5, the targets
label-smoothed by 0.1. Evaluation: resize the short side to ``img_size / 0.875`` (256 for 224), bicubic, then
center-crop ``img_size``.

Two backends give that recipe:
- ``timm``: ``timm.data.create_transform`` and ``timm.data.Mixup``, the implementations the papers ran. timm needs
  torchvision, whose PyPI wheel does not import against a CPU-only torch build; GPU images ship both.
- ``kornia``: pure torch, installs next to any torch, runs on CPU and GPU. The crop and flip run per image in the
  loader workers; RandAugment, normalization, erasing and Mixup/CutMix run per batch on the training device
  (:class:`KorniaBatchTransform`), which is also how augmentation moves to the GPU when the loader cannot keep up.
  It differs from timm in details, kept because each is kornia's own tested operation: RandAugment picks its two
  operations once per batch rather than per image, at a fixed magnitude (m9 of 10 → kornia's 27 of 30) without
  timm's per-op noise (``mstd0.5``) and over kornia's default operation list; random erasing fills with the mean
  colour instead of per-pixel noise. Mixup/CutMix is :class:`MixupCutmix` below: kornia's MixUp draws λ uniformly
  per sample, not from Beta(0.8, 0.8) per batch as the recipe does.

``backend="auto"`` takes timm when it imports and kornia otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class AugmentConfig:
    """Knobs of the augmentation recipe; the defaults are the papers' ImageNet values.

    Attributes:
        img_size: training and evaluation crop size.
        crop_pct: evaluation crop fraction: the short side is resized to ``floor(img_size / crop_pct)``.
        scale: RandomResizedCrop area range.
        hflip: horizontal-flip probability.
        rand_augment: timm RandAugment spec, or ``None`` to turn it off.
        reprob: random-erasing probability.
        mixup: Mixup Beta(α, α) parameter; 0 turns Mixup off.
        cutmix: CutMix Beta(α, α) parameter; 0 turns CutMix off.
        mixup_switch_prob: probability of CutMix rather than Mixup when both are on.
        smoothing: label smoothing.
        backend: ``"auto"``, ``"timm"`` or ``"kornia"``.

    Example:
        >>> AugmentConfig(img_size=64).eval_resize
        73
    """

    img_size: int = 224
    crop_pct: float = 0.875
    scale: tuple[float, float] = (0.08, 1.0)
    hflip: float = 0.5
    rand_augment: str | None = "rand-m9-mstd0.5-inc1"
    reprob: float = 0.25
    mixup: float = 0.8
    cutmix: float = 1.0
    mixup_switch_prob: float = 0.5
    smoothing: float = 0.1
    backend: str = "auto"

    @property
    def eval_resize(self) -> int:
        """Short side before the evaluation center crop (256 for 224, as timm computes it)."""
        return math.floor(self.img_size / self.crop_pct)


def timm_available() -> bool:
    """Whether timm's data pipeline imports here (it needs a torchvision built for this torch).

    Example:
        >>> isinstance(timm_available(), bool)
        True
    """
    try:
        import timm.data  # noqa: F401
    except Exception:  # torchvision's wheel fails to import against a CPU torch with RuntimeError, not ImportError
        return False
    return True


def resolve_backend(backend: str) -> str:
    """Turn ``"auto"`` into ``"timm"`` or ``"kornia"`` and check the named backend imports.

    Example:
        >>> resolve_backend("kornia")
        'kornia'
    """
    if backend == "auto":
        return "timm" if timm_available() else "kornia"
    if backend == "timm" and not timm_available():
        raise RuntimeError("augmentation backend 'timm' needs timm and a torchvision that imports; use 'kornia'")
    if backend not in ("timm", "kornia"):
        raise ValueError(f"unknown augmentation backend {backend!r}; expected 'auto', 'timm' or 'kornia'")
    return backend


def _rand_augment_magnitude(spec: str) -> int:
    """The ``m`` of a timm RandAugment spec (``rand-m9-mstd0.5-inc1`` → 9)."""
    for part in spec.split("-")[1:]:
        if part.startswith("m") and part[1:].isdigit():
            return int(part[1:])
    return 10


def _to_uint8_chw(image) -> Tensor:
    """PIL image or ``(H, W)`` / ``(H, W, C)`` uint8 array → ``(3, H, W)`` uint8 tensor (grayscale repeated)."""
    x = torch.from_numpy(np.array(image.convert("RGB") if hasattr(image, "convert") else image))
    if x.ndim == 2:
        x = x[..., None].expand(-1, -1, 3)
    return x.permute(2, 0, 1).contiguous()


class KorniaImageTransform(torch.nn.Module):
    """The per-image part of the kornia recipe: one image → a ``(3, img_size, img_size)`` uint8 tensor.

    Training: RandomResizedCrop (bicubic) and horizontal flip, the operations that need each image at its own size.
    Evaluation: resize the short side to :attr:`AugmentConfig.eval_resize` (bicubic, antialiased), center crop.
    Everything else runs per batch in :class:`KorniaBatchTransform`, where kornia's per-call overhead is shared by
    the whole batch and the work can run on the GPU. uint8 output keeps worker-to-trainer traffic 4x smaller.

    Args:
        cfg: the recipe.
        train: training or evaluation geometry.

    Example:
        >>> tf = KorniaImageTransform(AugmentConfig(img_size=32), train=True)
        >>> tf(np.zeros((28, 28), np.uint8)).shape
        torch.Size([3, 32, 32])
    """

    def __init__(self, cfg: AugmentConfig, *, train: bool):
        super().__init__()
        import kornia.augmentation as K
        from kornia.constants import Resample

        size = (cfg.img_size, cfg.img_size)
        if train:
            ops = [K.RandomResizedCrop(size, scale=cfg.scale, resample=Resample.BICUBIC)]
            if cfg.hflip > 0:
                ops.append(K.RandomHorizontalFlip(p=cfg.hflip))
        else:
            ops = [
                K.Resize(cfg.eval_resize, side="short", resample=Resample.BICUBIC, antialias=True),
                K.CenterCrop(size),
            ]
        self.ops = torch.nn.Sequential(*ops)

    def forward(self, image) -> Tensor:
        """Transform one image; returns ``(3, img_size, img_size)`` uint8."""
        x = _to_uint8_chw(image)[None].float()  # [1, 3, H, W]
        return self.ops(x)[0].round_().clamp_(0, 255).to(torch.uint8)


class KorniaBatchTransform(torch.nn.Module):
    """The per-batch part of the kornia recipe, on whatever device the batch is on.

    Training: RandAugment → normalize → random erasing → Mixup/CutMix with label smoothing. Evaluation: normalize.
    kornia's RandAugment draws its two operations once per call, so the images of one batch share the operations
    (each with its own random sign); every batch draws anew.

    Args:
        cfg: the recipe.
        train: training augmentation or evaluation normalization only.
        num_classes: classes of the soft targets (training with Mixup/CutMix).

    Example:
        >>> bt = KorniaBatchTransform(AugmentConfig(img_size=8), train=True, num_classes=3)
        >>> x, t = bt(torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8), torch.tensor([0, 1, 2, 0]))
        >>> x.dtype, t.shape
        (torch.float32, torch.Size([4, 3]))
    """

    def __init__(self, cfg: AugmentConfig, *, train: bool, num_classes: int):
        super().__init__()
        import kornia.augmentation as K
        from kornia.augmentation.auto import RandAugment

        self.rand_augment = self.erase = self.mixup = None
        if train:
            if cfg.rand_augment:
                # timm's magnitude scale is 0..10, kornia's 0..30 (exclusive).
                self.rand_augment = RandAugment(n=2, m=min(3 * _rand_augment_magnitude(cfg.rand_augment), 29))
            if cfg.reprob > 0:
                self.erase = K.RandomErasing(p=cfg.reprob)
            if cfg.mixup > 0 or cfg.cutmix > 0:
                self.mixup = MixupCutmix(
                    num_classes,
                    mixup=cfg.mixup,
                    cutmix=cfg.cutmix,
                    switch_prob=cfg.mixup_switch_prob,
                    smoothing=cfg.smoothing,
                )
        self.normalize = K.Normalize(mean=torch.tensor(IMAGENET_MEAN), std=torch.tensor(IMAGENET_STD))

    def forward(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 ``(B, 3, H, W)`` and labels → normalized float images and targets (soft when mixing)."""
        x = images.float().div_(255)
        if self.rand_augment is not None:
            x = self.rand_augment(x).clamp_(0, 1)
        x = self.normalize(x)
        if self.erase is not None:
            x = self.erase(x)
        if self.mixup is not None:
            return self.mixup(x, labels)
        return x, labels


def _to_rgb_pil(image):
    from PIL import Image

    if not hasattr(image, "convert"):
        image = Image.fromarray(np.asarray(image))
    return image.convert("RGB")


class _TimmTransform:
    """timm's transform behind the same call as :class:`KorniaImageTransform` (grayscale and arrays become RGB PIL)."""

    def __init__(self, cfg: AugmentConfig, *, train: bool):
        from timm.data import create_transform

        if train:
            self.inner = create_transform(
                cfg.img_size,
                is_training=True,
                scale=cfg.scale,
                hflip=cfg.hflip,
                auto_augment=cfg.rand_augment,
                interpolation="bicubic",
                re_prob=cfg.reprob,
                re_mode="pixel",
                re_count=1,
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
            )
        else:
            self.inner = create_transform(
                cfg.img_size,
                is_training=False,
                crop_pct=cfg.crop_pct,
                interpolation="bicubic",
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
            )

    def __call__(self, image) -> Tensor:
        return self.inner(_to_rgb_pil(image))


def build_transforms(cfg: AugmentConfig, *, train: bool, num_classes: int):
    """The recipe as a per-image transform (data-loader workers) and a per-batch transform (training device).

    Args:
        cfg: the recipe; ``cfg.backend`` picks timm or kornia.
        train: training augmentation or evaluation resize + center crop.
        num_classes: classes of Mixup/CutMix's soft targets.

    Returns:
        ``(image_transform, batch_transform)``: ``image -> Tensor[3, S, S]`` and
        ``(images, labels) -> (float images, targets)`` (targets are soft ``(B, num_classes)`` when Mixup/CutMix is
        on, else the labels), or ``None`` where a backend has nothing to do per batch.

    Example:
        >>> cfg = AugmentConfig(img_size=32, backend="kornia")
        >>> image_tf, batch_tf = build_transforms(cfg, train=False, num_classes=10)
        >>> x = image_tf(np.zeros((40, 60, 3), np.uint8))[None]
        >>> batch_tf(x, torch.tensor([3]))[0].shape
        torch.Size([1, 3, 32, 32])
    """
    if resolve_backend(cfg.backend) == "timm":
        mixup = None
        if train and (cfg.mixup > 0 or cfg.cutmix > 0):
            from timm.data import Mixup

            mixup = Mixup(
                mixup_alpha=cfg.mixup,
                cutmix_alpha=cfg.cutmix,
                switch_prob=cfg.mixup_switch_prob,
                mode="batch",
                label_smoothing=cfg.smoothing,
                num_classes=num_classes,
            )
        return _TimmTransform(cfg, train=train), mixup
    return KorniaImageTransform(cfg, train=train), KorniaBatchTransform(cfg, train=train, num_classes=num_classes)


def smooth_one_hot(labels: Tensor, num_classes: int, smoothing: float) -> Tensor:
    """One-hot targets with ``smoothing`` spread uniformly over all classes (timm's convention).

    Example:
        >>> smooth_one_hot(torch.tensor([1]), 4, 0.1)
        tensor([[0.0250, 0.9250, 0.0250, 0.0250]])
    """
    off = smoothing / num_classes
    return torch.full((labels.shape[0], num_classes), off, device=labels.device).scatter_(
        1, labels[:, None], 1.0 - smoothing + off
    )


class MixupCutmix:
    """Batch-mode Mixup / CutMix with label smoothing, the semantics of ``timm.data.Mixup(mode="batch")``.

    One λ per batch: with probability ``switch_prob`` CutMix (λ ~ Beta(cutmix, cutmix), a box of area 1 − λ pasted
    from the batch flipped end to end, λ then corrected to the exact box area), otherwise Mixup
    (λ ~ Beta(mixup, mixup), a convex blend with the flipped batch). Randomness comes from NumPy's global generator,
    as in timm, so it is part of the RNG state a checkpoint saves.

    Args:
        num_classes: number of classes of the soft targets.
        mixup: Mixup α (0 = off).
        cutmix: CutMix α (0 = off).
        switch_prob: probability of CutMix when both are on.
        smoothing: label smoothing of the targets.

    Example:
        >>> mix = MixupCutmix(num_classes=3)
        >>> x, t = mix(torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
        >>> x.shape, t.shape, bool(torch.allclose(t.sum(1), torch.ones(4)))
        (torch.Size([4, 3, 8, 8]), torch.Size([4, 3]), True)
    """

    def __init__(
        self, num_classes: int, *, mixup: float = 0.8, cutmix: float = 1.0, switch_prob: float = 0.5, smoothing=0.1
    ):
        if mixup <= 0 and cutmix <= 0:
            raise ValueError("MixupCutmix needs mixup > 0 or cutmix > 0")
        self.num_classes, self.mixup, self.cutmix = num_classes, mixup, cutmix
        self.switch_prob, self.smoothing = switch_prob, smoothing

    def __call__(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Mix a batch ``(B, C, H, W)`` in place; returns it with soft targets ``(B, num_classes)``."""
        use_cutmix = self.mixup <= 0 or (self.cutmix > 0 and np.random.rand() < self.switch_prob)
        alpha = self.cutmix if use_cutmix else self.mixup
        lam = float(np.random.beta(alpha, alpha))
        if use_cutmix:
            h, w = x.shape[-2:]
            cut = math.sqrt(1.0 - lam)
            ch, cw = int(h * cut), int(w * cut)
            cy, cx = np.random.randint(0, h), np.random.randint(0, w)
            y0, y1 = np.clip(cy - ch // 2, 0, h), np.clip(cy + ch // 2, 0, h)
            x0, x1 = np.clip(cx - cw // 2, 0, w), np.clip(cx + cw // 2, 0, w)
            x[..., y0:y1, x0:x1] = x.flip(0)[..., y0:y1, x0:x1]
            lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
        else:
            flipped = x.flip(0).mul_(1.0 - lam)  # before x is scaled in place
            x.mul_(lam).add_(flipped)
        target = smooth_one_hot(labels, self.num_classes, self.smoothing)
        return x, target * lam + target.flip(0) * (1.0 - lam)


def soft_cross_entropy(logits: Tensor, target: Tensor, smoothing: float = 0.0) -> Tensor:
    """Cross-entropy against soft targets ``(B, K)`` or, for integer labels ``(B,)``, with label smoothing.

    Example:
        >>> float(soft_cross_entropy(torch.zeros(2, 4), torch.tensor([0, 3])))  # log 4
        1.3862943649291992
    """
    if target.ndim == 1:
        return F.cross_entropy(logits.float(), target, label_smoothing=smoothing)
    return F.cross_entropy(logits.float(), target)
