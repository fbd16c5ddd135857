"""README's main job: an aligned comparison of token mixers, trained on real images on a CPU in minutes.

Trains ``vmamba_pico`` and ``gconvnet_pico`` (the same macro architecture, only the mixer differs) with one recipe
and one budget, then prints params, FLOPs (the papers' counting), training img/s and top-1, and writes the curves::

    apt-get update -q && apt-get install -y -q dataset-fashion-mnist && \\
        pip install -q torch==2.13.0 -e ".[train]" && python examples/compare.py

The default data is Fashion-MNIST (Debian's ``dataset-fashion-mnist``; ``--data digits`` needs no apt at all). The
default recipe is the papers' one cut down to 300 steps at 32 px: the same AdamW groups, warm-up + cosine, label
smoothing, drop path and bicubic crops, but lr 2e-3 instead of the linearly scaled 6e-5 at batch 32, and no
RandAugment, Mixup/CutMix, erasing or EMA, which regularize 300-epoch runs and only slow a short one down. Every
flag of ``examples/train_imagenet.py`` applies to both models, e.g. the full recipe on Imagenette::

    python examples/compare.py --data ../shared/data/imagenette2 --img-size 112 --epochs 100 --max-steps 0 \\
        --rand-augment rand-m9-mstd0.5-inc1 --mixup 0.8 --cutmix 1.0 --reprob 0.25 --lr 0.001
"""

import dataclasses
import sys
from pathlib import Path

import torch

import vmix
from vmix.analysis import count_flops
from vmix.data import load_image_dataset
from vmix.train import TrainConfig, build_parser, config_from_args, plot_runs, train

SHORT_RECIPE = TrainConfig(
    model="vmamba_pico",
    data="fashion-mnist",
    output="runs/compare",
    img_size=32,
    batch_size=32,
    epochs=1,
    max_steps=300,
    warmup_epochs=0.01,
    lr=2e-3,
    ema=False,
    rand_augment="none",
    mixup=0.0,
    cutmix=0.0,
    reprob=0.0,
    scale_min=0.35,
    val_subset=1000,
    workers=0,
    log_every=10,
    save_every=10_000,
)


def main(argv=None) -> int:
    parser = build_parser(SHORT_RECIPE, description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vmamba_pico", "gconvnet_pico"], help="models to compare")
    args = parser.parse_args(argv)
    base = config_from_args(args)
    if base.max_steps == 0:
        base = dataclasses.replace(base, max_steps=None)
    data = load_image_dataset(base.data)  # once, shared by every model
    rows, runs = [], {}
    for name in args.models:
        out = Path(base.output) / name
        print(f"== {name}: {base.max_steps or base.epochs} {'steps' if base.max_steps else 'epochs'} on {data.source}")
        result = train(dataclasses.replace(base, model=name, output=str(out)), data=data)
        with torch.device("meta"):
            meta_model = vmix.create_model(name, num_classes=data.num_classes)
        flops = count_flops(meta_model, (3, base.img_size, base.img_size), mode="paper")
        params = sum(p.numel() for p in meta_model.parameters())
        rows.append((name, params / 1e6, flops / 1e6, result.train_img_per_s, result.top1))
        runs[name] = out
    curves = plot_runs(runs, Path(base.output) / "curves.png")
    print(f"\n{data.source}, {base.img_size}x{base.img_size}, batch {base.batch_size}, same recipe and budget:")
    print("| model | params (M) | FLOPs (M) | train img/s | top-1 (%) |\n|---|---:|---:|---:|---:|")
    for name, params, flops, ips, top1 in rows:
        print(f"| {name} | {params:.2f} | {flops:.1f} | {ips:.1f} | {top1:.2f} |")
    print(f"\ncurves: {curves}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
