"""Training data-loader throughput: decode + per-image augmentation in workers, then the per-batch augmentation.

The question it answers: does the papers' augmentation recipe keep up with the model? Compare its img/s with the
model's training img/s from ``bench/bench_models.py`` on the same machine. Each backend (timm where it imports,
kornia always) is timed over ``--batches`` batches after ``--warmup`` batches, the per-batch part (RandAugment,
erasing, Mixup/CutMix) on ``--device`` with a sync per batch.

Run from the repository root::

    python bench/bench_loader.py --data ../shared/data/imagenette2 --img-size 224 --workers 16 --device cuda
    python bench/bench_loader.py --data digits --img-size 32 --workers 2 --batches 20     # a CPU machine
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmix.data import (  # noqa: E402
    AugmentConfig,
    ClassificationDataset,
    ResumableSampler,
    build_loader,
    build_transforms,
    load_image_dataset,
    timm_available,
)


def kornia_available() -> bool:
    """Whether kornia imports here."""
    try:
        import kornia  # noqa: F401
    except ImportError:
        return False
    return True


def measure(splits, backend: str, args) -> dict:
    """img/s of the loader alone and of loader + per-batch transform for one augmentation backend."""
    cfg = AugmentConfig(img_size=args.img_size, backend=backend)
    image_tf, batch_tf = build_transforms(cfg, train=True, num_classes=splits.num_classes)
    dataset = ClassificationDataset(splits.train, image_tf, image_key=splits.image_key, label_key=splits.label_key)
    sampler = ResumableSampler(len(dataset), batch_size=args.batch_size, seed=0)
    loader = build_loader(dataset, sampler, workers=args.workers, pin_memory=args.device.startswith("cuda"))
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batches = iter(loader)
    for _ in range(args.warmup):
        next(batches)
    images = 0
    start = time.perf_counter()
    for _ in range(args.batches):
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if batch_tf is not None:
            x, y = batch_tf(x, y)
        sync()
        images += x.shape[0]
    seconds = time.perf_counter() - start
    return {"backend": backend, "img_per_s": images / seconds, "batches": args.batches}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits", help="what vmix.data.load_image_dataset accepts")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batches", type=int, default=50, help="timed batches per backend")
    parser.add_argument("--warmup", type=int, default=5, help="batches before timing (worker start-up)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    splits = load_image_dataset(args.data)
    backends = [b for b, ok in (("kornia", kornia_available()), ("timm", timm_available())) if ok]
    if not backends:
        raise SystemExit("neither kornia nor timm (with a torchvision that imports) is installed")
    print(f"{args.data}: {len(splits.train)} training images, {args.img_size}², batch {args.batch_size}, "
          f"{args.workers} workers, per-batch part on {args.device}")  # fmt: skip
    print("| backend | loader img/s |\n| --- | ---: |")
    for backend in backends:
        result = measure(splits, backend, args)
        print(f"| {result['backend']} | {result['img_per_s']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
