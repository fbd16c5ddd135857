"""Training configuration: one dataclass, the papers' defaults, and the command line generated from it.

Every field is a flag of ``examples/train_imagenet.py`` (``img_size`` → ``--img-size``); the help text lives next to
the field so the two cannot drift. Fields left at ``None`` are filled by :func:`resolve` from the model's family and
size (drop path, EMA) and from the global batch (learning rates).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field

from vmix.data.transforms import AugmentConfig

#: Drop-path rate by family and size: GConvNet paper A.2 for VMamba/GConvNet and their hybrids (pico 0.025, tiny 0.2,
#: small 0.3, reading the paper's "0.03" as the official VMamba-S 0.3), VSSD's Table 7, MambaOut's training scripts.
DROP_PATH = {
    "vmamba": {"pico": 0.025, "tiny": 0.2, "small": 0.3},
    "gconvnet": {"pico": 0.025, "tiny": 0.2, "small": 0.3},
    "vssd": {"micro": 0.2, "tiny": 0.2, "small": 0.4, "base": 0.6},
    "mambaout": {"femto": 0.025, "kobe": 0.025, "tiny": 0.2, "small": 0.4, "base": 0.6},
}
#: EMA of the weights by family: on for VMamba (and its hybrids) and VSSD; GConvNet drops it ("it does not improve
#: the performance", A.2); MambaOut's recipe has none.
EMA_BY_FAMILY = {"vmamba": True, "vssd": True, "gconvnet": False, "mambaout": False}


def _f(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    """All knobs of a training run; defaults are the papers' ImageNet recipe (VSSD Table 7, GConvNet A.2).

    Example:
        >>> cfg = resolve(TrainConfig(model="gconvnet_pico", batch_size=128))
        >>> cfg.drop_path, cfg.ema, cfg.lr
        (0.025, False, 0.000125)
    """

    model: str = _f("vmamba_tiny", "model name from vmix.list_models()")
    data: str = _f(
        "ILSVRC/imagenet-1k",
        "hub id, local folder (parquet shards in the hub's layout, or ImageFolder train/<class>/*, val/<class>/*), "
        "or an embedded set: 'fashion-mnist' (apt-get install dataset-fashion-mnist) or 'digits' (scikit-learn)",
    )
    output: str = _f("runs/exp", "output folder: metrics.jsonl, run.json, last.pt, best.pt, curves.png")
    img_size: int = _f(224, "training crop and evaluation size")
    batch_size: int = _f(128, "batch size per process (the global batch is this times the number of processes)")
    epochs: int = _f(300, "training epochs")
    max_steps: int | None = _f(None, "stop after this many optimizer steps; the schedule spans min(epochs, steps)")
    warmup_epochs: float = _f(20.0, "linear warm-up epochs")
    lr: float | None = _f(None, "peak learning rate (default 1e-3 x global batch / 1024)")
    warmup_lr: float | None = _f(None, "learning rate at step 0 (default 1e-6 x global batch / 1024)")
    min_lr: float | None = _f(None, "final learning rate of the cosine (default 1e-5 x global batch / 1024)")
    weight_decay: float = _f(0.05, "AdamW weight decay (not applied to norms, biases and 1-D parameters)")
    clip_grad: float | None = _f(None, "clip the gradient norm to this value (off by default)")
    drop_path: float | None = _f(None, "stochastic-depth rate (default: the paper's value for the model's size)")
    ema: bool | None = _f(None, "keep an EMA of the weights (default: on for VMamba/VSSD, off for GConvNet)")
    ema_decay: float = _f(0.9999, "EMA decay per step")
    smoothing: float = _f(0.1, "label smoothing")
    mixup: float = _f(0.8, "Mixup alpha (0 = off)")
    cutmix: float = _f(1.0, "CutMix alpha (0 = off)")
    mixup_switch_prob: float = _f(0.5, "probability of CutMix instead of Mixup")
    rand_augment: str = _f("rand-m9-mstd0.5-inc1", "RandAugment spec (timm syntax), or 'none'")
    reprob: float = _f(0.25, "random-erasing probability")
    scale_min: float = _f(0.08, "smallest area fraction of RandomResizedCrop")
    crop_pct: float = _f(0.875, "evaluation center-crop fraction (resize to img_size / crop_pct first)")
    aug_backend: str = _f(
        "auto", "augmentation library: auto (timm if it imports), timm, kornia", choices=("auto", "timm", "kornia")
    )
    workers: int = _f(4, "data-loader worker processes per training process")
    device: str = _f("auto", "auto, cpu, cuda or cuda:N (under torchrun each rank takes its local GPU)")
    amp: bool = _f(True, "bf16 autocast on CUDA (the CPU runs in float32)")
    compile: bool = _f(False, "torch.compile the model")
    compile_mode: str = _f(
        "model",
        "what --compile compiles: the whole model, or its regions (Backbone.compile_regions: a stage's blocks share "
        "one graph, faster to compile)",
        choices=("model", "regions"),
    )
    seed: int = _f(0, "random seed (data order, augmentation, initialization)")
    log_every: int = _f(10, "write a step line to metrics.jsonl every N steps")
    save_every: int = _f(1000, "write last.pt every N steps (also at each epoch end and at the end)")
    eval_every: int = _f(1, "evaluate every N epochs (and at the end)")
    train_subset: int | None = _f(None, "train on a fixed random subset of this many images")
    val_subset: int | None = _f(None, "evaluate on a fixed random subset of this many images")
    resume: str | None = _f(None, "checkpoint file or run folder (its last.pt) to continue from")
    progress: bool = _f(True, "show a progress bar")

    def augment_config(self) -> AugmentConfig:
        """The augmentation part of the recipe.

        Example:
            >>> TrainConfig(img_size=64).augment_config().img_size
            64
        """
        return AugmentConfig(
            img_size=self.img_size,
            crop_pct=self.crop_pct,
            scale=(self.scale_min, 1.0),
            rand_augment=None if self.rand_augment.lower() == "none" else self.rand_augment,
            reprob=self.reprob,
            mixup=self.mixup,
            cutmix=self.cutmix,
            mixup_switch_prob=self.mixup_switch_prob,
            smoothing=self.smoothing,
            backend=self.aug_backend,
        )


def family_and_size(model: str) -> tuple[str, str]:
    """Split a registry name into family and size: ``vmamba_hybrid1_small`` → ``("vmamba", "small")``.

    Example:
        >>> family_and_size("gconvnet_pico")
        ('gconvnet', 'pico')
    """
    parts = model.lower().split("_")
    sizes = {s for table in DROP_PATH.values() for s in table}
    size = next((p for p in reversed(parts) if p in sizes), parts[-1])
    return parts[0], size


def resolve(cfg: TrainConfig, world_size: int = 1) -> TrainConfig:
    """Fill the ``None`` fields: per-model drop path and EMA, learning rates scaled to the global batch.

    Unknown families get drop path 0.1 and no EMA.

    Example:
        >>> resolve(TrainConfig(model="vssd_micro", batch_size=256), world_size=4).lr
        0.001
    """
    family, size = family_and_size(cfg.model)
    global_batch = cfg.batch_size * world_size
    scale = global_batch / 1024
    return dataclasses.replace(
        cfg,
        drop_path=DROP_PATH.get(family, {}).get(size, 0.1) if cfg.drop_path is None else cfg.drop_path,
        ema=EMA_BY_FAMILY.get(family, False) if cfg.ema is None else cfg.ema,
        lr=1e-3 * scale if cfg.lr is None else cfg.lr,
        warmup_lr=1e-6 * scale if cfg.warmup_lr is None else cfg.warmup_lr,
        min_lr=1e-5 * scale if cfg.min_lr is None else cfg.min_lr,
    )


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser(defaults: TrainConfig | None = None, **parser_kwargs) -> argparse.ArgumentParser:
    """An argparse parser with one flag per :class:`TrainConfig` field (booleans as ``--x/--no-x``).

    Args:
        defaults: defaults to show and use (a script can change the recipe's defaults, e.g. for a short demo).
        **parser_kwargs: passed to ``argparse.ArgumentParser``.

    Example:
        >>> args = build_parser().parse_args(["--model", "vmamba_pico", "--no-amp", "--max-steps", "5"])
        >>> config_from_args(args).max_steps
        5
    """
    defaults = defaults or TrainConfig()
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter, **parser_kwargs)
    for f in dataclasses.fields(TrainConfig):
        default, help_text = getattr(defaults, f.name), f.metadata["help"]
        kind = re.sub(r"\s*\|\s*None", "", f.type)
        if kind == "bool":
            parser.add_argument(_flag(f.name), default=default, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            typ = {"int": int, "float": float, "str": str}[kind]
            choices = f.metadata.get("choices")
            parser.add_argument(_flag(f.name), type=typ, default=default, choices=choices, help=help_text)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed arguments.

    Example:
        >>> config_from_args(build_parser().parse_args(["--epochs", "2"])).epochs
        2
    """
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
