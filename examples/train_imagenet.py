"""Train a vmix backbone with the papers' ImageNet recipe, on one device or under ``torchrun`` (DDP).

Defaults are the recipe of VSSD (Table 7) and the GConvNet paper (A.2): AdamW, lr 1e-3 per 1024 images, cosine with
20 warm-up epochs, 300 epochs, RandAugment, Mixup/CutMix, random erasing, label smoothing, per-model drop path and
EMA, bf16 autocast on GPU. ``--help`` lists every flag. Examples:

    python examples/train_imagenet.py --model vmamba_tiny --data ILSVRC/imagenet-1k --batch-size 128 --compile
    torchrun --nproc_per_node 8 examples/train_imagenet.py --model gconvnet_tiny --data /data/imagenet
    python examples/train_imagenet.py --model vmamba_pico --data ../shared/data/imagenette2 --img-size 112 \\
        --epochs 100 --warmup-epochs 5 --output runs/pico
    python examples/train_imagenet.py ... --resume runs/pico       # continue exactly where it stopped

Writes ``run.json``, ``metrics.jsonl`` (schema in ``vmix.train``), ``last.pt``, ``best.pt`` and ``curves.png`` to
``--output``. Exit status 143 after SIGTERM (checkpoint written), 1 on a non-finite loss.
"""

import sys
from pathlib import Path

from vmix.train import NonFiniteLossError, build_parser, config_from_args, plot_runs, train


def main(argv=None) -> int:
    parser = build_parser(description=__doc__.split("\n\n")[0])
    cfg = config_from_args(parser.parse_args(argv))
    try:
        result = train(cfg)
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if result.status == "preempted":
        return 143
    if (Path(cfg.output) / "metrics.jsonl").exists():
        plot_runs({cfg.model: cfg.output}, Path(cfg.output) / "curves.png")
        print(f"top-1 {result.top1:.2f} (best {result.best_top1:.2f}); curves in {cfg.output}/curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
