"""Training with the papers' recipe: AdamW groups, warm-up + cosine, EMA, atomic checkpoints, DDP, metrics, plots.

``examples/train_imagenet.py`` is a thin command line over :func:`train`; the pieces are importable so tests and
other scripts (``examples/compare.py``) reuse them. Needs the ``train`` extra (``pip install "vmix[train]"``).

Output folder of a run:
- ``run.json``: ``model`` (name), ``params`` (trainable parameters), ``data`` (source), ``num_classes``,
  ``train_images``, ``val_images``, ``world_size``, ``device``, ``aug_backend``, ``torch``, ``steps_per_epoch``,
  ``total_steps`` and ``args`` (every :class:`TrainConfig` field after defaults were resolved).
- ``metrics.jsonl``: one JSON object per line, each with ``"kind"``, ``"step"`` (optimizer steps done) and
  ``"epoch"`` (``step / steps_per_epoch``, a float):

  - ``"kind": "step"`` every ``--log-every`` steps: ``loss`` (mean training loss since the previous step line),
    ``lr``, ``img_per_s`` (images per second over all processes since the previous line), ``time``;
  - ``"kind": "epoch"`` at the end of each epoch (and of a run stopped by ``--max-steps``): ``loss`` (mean over the
    epoch), ``lr``, ``img_per_s``, ``time``;
  - ``"kind": "eval"`` after evaluating: ``top1``, ``top5`` (%), ``loss`` (validation cross-entropy), ``time``, and
    ``top1_ema``, ``top5_ema``, ``loss_ema`` when an EMA is kept.

  ``time`` is cumulative training wall-clock seconds (data loading included; evaluation and checkpointing
  excluded), continued across resumes. A resumed run first drops the lines past its checkpoint's step.
- ``last.pt`` (every ``--save-every`` steps, each epoch end, the end, and on SIGTERM) and ``best.pt`` (best top-1 of
  the model or its EMA): model, optimizer, scheduler and EMA states, step, epoch and position in the epoch, the RNG
  states of every process, the configuration.

Example:
    >>> from vmix.train import TrainConfig, build_parser
    >>> build_parser().parse_args(["--model", "gconvnet_pico"]).model
    'gconvnet_pico'
"""

from vmix._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": ".config",
    "build_parser": ".config",
    "config_from_args": ".config",
    "resolve": ".config",
    "build_optimizer": ".optim",
    "param_groups": ".optim",
    "scaled_lr": ".optim",
    "WarmupCosine": ".schedule",
    "build_scheduler": ".schedule",
    "build_ema": ".ema",
    "save_checkpoint": ".checkpoint",
    "load_checkpoint": ".checkpoint",
    "capture_rng_state": ".checkpoint",
    "restore_rng_state": ".checkpoint",
    "NonFiniteLossError": ".loop",
    "TrainResult": ".loop",
    "train": ".loop",
    "train_step": ".loop",
    "evaluate": ".loop",
    "plot_runs": ".plots",
    "read_metrics": ".plots",
    "init_distributed": ".distributed",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
