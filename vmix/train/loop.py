"""The training loop: steps, evaluation, metrics, checkpoints, preemption and resume.

:func:`train` runs a whole job from a :class:`~vmix.train.config.TrainConfig`; :func:`train_step` and
:func:`evaluate` are the pieces it repeats, usable on their own.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import signal
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from vmix.analysis.flops import count_params
from vmix.data.loader import ClassificationDataset, ResumableSampler, build_loader, close_loader
from vmix.data.sources import ImageSplits, load_image_dataset
from vmix.data.transforms import build_transforms, resolve_backend, soft_cross_entropy
from vmix.train import distributed as D
from vmix.train.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from vmix.train.config import TrainConfig, resolve
from vmix.train.ema import build_ema
from vmix.train.optim import build_optimizer
from vmix.train.schedule import WarmupCosine, build_scheduler


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


@dataclass
class TrainResult:
    """What a finished (or preempted) run reports.

    Attributes:
        status: ``"done"`` or ``"preempted"`` (SIGTERM: a checkpoint was written, resume with ``--resume``).
        step: optimizer steps done.
        top1: last evaluation's top-1 (%), ``None`` if none ran.
        best_top1: best top-1 over evaluations (EMA included).
        train_img_per_s: mean training throughput over the run (all processes).
        output: the run folder.
    """

    status: str
    step: int
    top1: float | None
    best_top1: float | None
    train_img_per_s: float
    output: Path


def train_step(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    optimizer: torch.optim.Optimizer,
    batch_transform=None,
    smoothing: float = 0.0,
    amp_dtype: torch.dtype | None = None,
    clip_grad: float | None = None,
) -> Tensor:
    """Forward, loss and backward of one batch; returns the detached loss. The caller steps the optimizer.

    Keeping the optimizer step out lets the caller look at the loss first (a non-finite loss must not reach the
    weights) without a second synchronisation.

    Args:
        model: the model in training mode (possibly DDP-wrapped or compiled).
        images: ``(B, 3, H, W)`` on the model's device.
        labels: ``(B,)`` integer labels.
        optimizer: its gradients are zeroed first.
        batch_transform: per-batch augmentation ``(images, labels) -> (images, targets)``, or ``None``.
        smoothing: label smoothing of integer targets (Mixup's soft targets are already smoothed).
        amp_dtype: autocast dtype (``torch.bfloat16`` on CUDA), or ``None`` for full precision.
        clip_grad: max gradient norm, or ``None``.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> loss = train_step(net, torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 2, 0]), optimizer=opt)
        >>> loss.shape
        torch.Size([])
    """
    target = labels
    if batch_transform is not None:
        images, target = batch_transform(images, labels)
    autocast = torch.autocast(images.device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
    with autocast:
        logits = model(images)
    loss = soft_cross_entropy(logits, target, smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    return loss.detach()


@torch.no_grad()
def evaluate(
    model: nn.Module, loader, device: torch.device, amp_dtype: torch.dtype | None = None, batch_transform=None
) -> dict:
    """Top-1, top-5 (%) and cross-entropy over ``loader``, summed over all processes.

    Each process evaluates its own shard; the counts are all-reduced, so the numbers are exact for the whole set.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        >>> batches = [(torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 2, 0]))]
        >>> sorted(evaluate(net, batches, torch.device("cpu")))
        ['loss', 'top1', 'top5']
    """
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # correct@1, correct@5, loss sum, count
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        if batch_transform is not None:
            images, labels = batch_transform(images, labels)
        with autocast:
            logits = model(images)
        logits = logits.float()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hit = top == labels[:, None]
        sums += torch.stack(
            [
                hit[:, 0].sum(),
                hit.any(1).sum(),
                torch.nn.functional.cross_entropy(logits, labels, reduction="sum"),
                torch.tensor(labels.numel(), device=device),
            ]
        ).double()
    D.all_reduce_sum(sums)
    model.train(was_training)
    n = max(sums[3].item(), 1.0)
    return {"top1": 100 * sums[0].item() / n, "top5": 100 * sums[1].item() / n, "loss": sums[2].item() / n}


class MetricsLog:
    """Appends JSON lines to ``metrics.jsonl`` (rank 0 only); on resume drops lines past the checkpoint's step.

    Example:
        >>> import tempfile
        >>> log = MetricsLog(Path(tempfile.mkdtemp()) / "metrics.jsonl")
        >>> log.write(kind="step", step=1, epoch=0.1, loss=2.3)
        >>> log.path.read_text().strip()
        '{"kind": "step", "step": 1, "epoch": 0.1, "loss": 2.3}'
    """

    def __init__(self, path: Path, *, enabled: bool = True):
        self.path, self.enabled = path, enabled

    def truncate_after(self, step: int) -> None:
        """Keep only lines with ``step <= step`` (a resumed run rewrites what came after its checkpoint)."""
        if not (self.enabled and self.path.exists()):
            return
        lines = [ln for ln in self.path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
        self.path.write_text("".join(ln + "\n" for ln in lines))

    def write(self, **record) -> None:
        """Append one record."""
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


@contextmanager
def _sigterm_flag():
    """Yield a one-element list set to True when SIGTERM arrives (the handler only records it)."""
    flag = [False]
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        flag[0] = True

    signal.signal(signal.SIGTERM, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _workers_stopped(*loaders):
    """Stop the loaders' workers on the way out: after a ``break`` or an exception they would wait for garbage
    collection, at worst for interpreter exit, where a worker that let the scheduler's SIGTERM pass is joined."""
    try:
        yield
    finally:
        for loader in loaders:
            close_loader(loader)


def _subset(split, n: int | None, seed: int):
    """``n`` rows of ``split`` drawn without replacement by ``seed`` (any sequence of rows, not only ``datasets``)."""
    if n is None or n >= len(split):
        return split
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n]
    return torch.utils.data.Subset(split, order.tolist())


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DDP


def check_model_name(name: str) -> None:
    """Raise a ``ValueError`` listing close names when ``name`` is not in ``vmix.list_models()``.

    Example:
        >>> check_model_name("vmamba_pic")
        Traceback (most recent call last):
        ...
        ValueError: unknown model 'vmamba_pic'; did you mean ['vmamba_pico', ...
    """
    import difflib

    import vmix

    names = list(vmix.list_models())
    if name not in names:
        close = difflib.get_close_matches(name, names, n=5)
        raise ValueError(f"unknown model {name!r}; did you mean {close}? (vmix.list_models() lists all {len(names)})")


def _log(dist: D.DistInfo, bar, message: str) -> None:
    if dist.is_main:
        (bar.write if bar is not None else print)(message, file=sys.stderr)


def train(cfg: TrainConfig, *, model: nn.Module | None = None, data: ImageSplits | None = None) -> TrainResult:
    """Train one model end to end; under ``torchrun`` every rank calls this with the same ``cfg``.

    Args:
        cfg: the run's configuration (``None`` fields are filled by :func:`~vmix.train.config.resolve`).
        model: a model to train instead of ``vmix.create_model(cfg.model, ...)`` (``cfg.model`` still names it in
            checkpoints and ``run.json``).
        data: splits to use instead of loading ``cfg.data``.

    Returns:
        The run's :class:`TrainResult`.

    Raises:
        NonFiniteLossError: the loss became NaN/inf; nothing was saved for that step.

    Example:
        >>> import tempfile
        >>> from vmix.data import load_image_dataset
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 4, 4), nn.Flatten(), nn.LazyLinear(10))
        >>> cfg = TrainConfig(model="toy", data="digits", output=tempfile.mkdtemp(), img_size=16, batch_size=32,
        ...                   max_steps=3, workers=0, device="cpu", progress=False, rand_augment="none")
        >>> train(cfg, model=net).status
        'done'
    """
    if model is None:
        check_model_name(cfg.model)  # before any data is read
    dist = D.init_distributed(cfg.device)
    cfg = resolve(cfg, dist.world_size)
    device, out = dist.device, Path(cfg.output)
    random.seed(cfg.seed + dist.rank)
    np.random.seed(cfg.seed + dist.rank)
    torch.manual_seed(cfg.seed + dist.rank)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)

    # Data: rank 0 first, so a hub download or cache build happens once.
    if data is None:
        if not dist.is_main:
            D.barrier()
        data = load_image_dataset(cfg.data)
        if dist.is_main:
            D.barrier()
    aug = cfg.augment_config()
    backend = resolve_backend(aug.backend)
    aug = dataclasses.replace(aug, backend=backend)
    train_image_tf, train_batch_tf = build_transforms(aug, train=True, num_classes=data.num_classes)
    val_image_tf, val_batch_tf = build_transforms(aug, train=False, num_classes=data.num_classes)
    for batch_tf in (train_batch_tf, val_batch_tf):
        if isinstance(batch_tf, nn.Module):  # kornia's per-batch augmentation runs where the batch is
            batch_tf.to(device)
    train_ds = ClassificationDataset(
        _subset(data.train, cfg.train_subset, cfg.seed),
        train_image_tf,
        image_key=data.image_key,
        label_key=data.label_key,
    )
    val_ds = ClassificationDataset(
        _subset(data.val, cfg.val_subset, cfg.seed),
        val_image_tf,
        image_key=data.image_key,
        label_key=data.label_key,
    )
    train_sampler = ResumableSampler(
        len(train_ds), batch_size=cfg.batch_size, rank=dist.rank, world_size=dist.world_size, seed=cfg.seed
    )
    val_sampler = ResumableSampler(
        len(val_ds),
        batch_size=cfg.batch_size,
        rank=dist.rank,
        world_size=dist.world_size,
        shuffle=False,
        drop_last=False,
        seeded=False,
    )
    pin = device.type == "cuda"
    train_loader = build_loader(train_ds, train_sampler, workers=cfg.workers, pin_memory=pin)
    val_loader = build_loader(val_ds, val_sampler, workers=cfg.workers, pin_memory=pin)
    steps_per_epoch = train_sampler.batches_per_epoch
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)

    # Model, optimizer, schedule, EMA.
    if model is None:
        import vmix

        model = vmix.create_model(cfg.model, num_classes=data.num_classes, drop_path_rate=cfg.drop_path)
    model = model.to(device)
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()):
        with torch.no_grad():  # materialize lazy layers before the optimizer and EMA see the parameters
            model(torch.zeros(1, 3, cfg.img_size, cfg.img_size, device=device))
    optimizer = build_optimizer(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = WarmupCosine(
        peak_lr=cfg.lr,
        total_steps=total_steps,
        warmup_steps=min(round(cfg.warmup_epochs * steps_per_epoch), total_steps),
        warmup_lr=cfg.warmup_lr,
        min_lr=cfg.min_lr,
    )
    scheduler = build_scheduler(optimizer, schedule)
    ema = build_ema(model, cfg.ema_decay) if cfg.ema else None
    amp_dtype = torch.bfloat16 if cfg.amp and device.type == "cuda" else None

    step, best_top1, last_top1, train_time = 0, None, None, 0.0
    metrics = MetricsLog(out / "metrics.jsonl", enabled=dist.is_main)
    if cfg.resume:
        state = load_checkpoint(cfg.resume, model_name=cfg.model)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        step, best_top1, last_top1, train_time = state["step"], state["best_top1"], state["top1"], state["time"]
        rng = state["rng"]
        if len(rng) != dist.world_size:
            raise ValueError(f"checkpoint was written by {len(rng)} processes, this run has {dist.world_size}")
        restore_rng_state(rng[dist.rank])
        metrics.truncate_after(step)
    elif dist.is_main:
        metrics.path.unlink(missing_ok=True)

    if dist.is_main:
        run_info = {
            "model": cfg.model,
            "params": count_params(model),
            "data": data.source,
            "num_classes": data.num_classes,
            "train_images": len(train_ds),
            "val_images": len(val_ds),
            "world_size": dist.world_size,
            "device": str(device),
            "aug_backend": backend,
            "torch": torch.__version__,
            "steps_per_epoch": steps_per_epoch,
            "total_steps": total_steps,
            "args": dataclasses.asdict(cfg),
        }
        (out / "run.json").write_text(json.dumps(run_info, indent=2) + "\n")

    if cfg.compile and cfg.compile_mode == "regions":
        if not hasattr(model, "compile_regions"):
            raise ValueError(
                f"--compile-mode regions needs a vmix Backbone; got {type(model).__name__} (use --compile-mode model)"
            )
        model.compile_regions()  # in place, before DDP wraps it; the EMA copy above stays eager
    net = model
    if dist.distributed:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if cfg.compile and cfg.compile_mode == "model":
        net = torch.compile(net)

    def checkpoint(*names: str) -> None:
        rng = D.all_gather_objects(capture_rng_state())
        if dist.is_main:
            state = {
                "model_name": cfg.model,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "ema": ema.state_dict() if ema is not None else None,
                "step": step,
                "epoch": step // steps_per_epoch,
                "batch_in_epoch": step % steps_per_epoch,
                "best_top1": best_top1,
                "top1": last_top1,
                "time": train_time,
                "rng": rng,
                "config": dataclasses.asdict(cfg),
            }
            for name in names:
                save_checkpoint(state, out / name)
        D.barrier()

    def run_eval() -> None:
        nonlocal best_top1, last_top1
        res = evaluate(net, val_loader, device, amp_dtype, val_batch_tf)
        record = {"kind": "eval", "step": step, "epoch": step / steps_per_epoch, **res}
        scores = [res["top1"]]
        if ema is not None:
            res_ema = evaluate(ema.module, val_loader, device, amp_dtype, val_batch_tf)
            record.update({f"{k}_ema": v for k, v in res_ema.items()})
            scores.append(res_ema["top1"])
        record["time"] = train_time
        metrics.write(**record)
        last_top1 = res["top1"]
        ema_text = f", EMA {record['top1_ema']:.2f}" if ema is not None else ""
        _log(dist, bar, f"eval step {step}: top-1 {res['top1']:.2f}, top-5 {res['top5']:.2f}{ema_text}")
        improved = best_top1 is None or max(scores) > best_top1
        best_top1 = max(scores) if improved else best_top1
        checkpoint(*(["last.pt", "best.pt"] if improved else ["last.pt"]))

    from tqdm.auto import tqdm

    bar = tqdm(
        total=total_steps, initial=step, unit="step", dynamic_ncols=True, disable=not (dist.is_main and cfg.progress)
    )
    global_batch = cfg.batch_size * dist.world_size
    # Training time excludes evaluation and checkpointing; img/s are measured against it.
    status, window, t_last = "done", [0.0, 0, train_time], time.perf_counter()  # window: loss sum, steps, start
    last_saved = step
    net.train()
    with _workers_stopped(train_loader, val_loader), _sigterm_flag() as sigterm:
        while step < total_steps:
            epoch, start_batch = divmod(step, steps_per_epoch)
            train_sampler.set_epoch(epoch, start_batch)
            epoch_loss, epoch_t0 = 0.0, train_time
            for epoch_steps, (images, labels) in enumerate(train_loader, 1):
                images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                loss = train_step(
                    net,
                    images,
                    labels,
                    optimizer=optimizer,
                    batch_transform=train_batch_tf,
                    smoothing=cfg.smoothing,
                    amp_dtype=amp_dtype,
                    clip_grad=cfg.clip_grad,
                )
                # One reduction per step carries the loss and the preemption flag of every rank, so all ranks
                # stop on the same step whichever of them got the signal.
                flags = D.all_reduce_sum(torch.stack([loss.float(), torch.tensor(float(sigterm[0]), device=device)]))
                loss_value, stop = flags[0].item() / dist.world_size, flags[1].item() > 0
                if not math.isfinite(loss_value):
                    bar.close()
                    last = out / "last.pt"
                    kept = (
                        f"the last good checkpoint is {last} (step {last_saved})"
                        if last.exists()
                        else "no checkpoint was written"
                    )
                    raise NonFiniteLossError(
                        f"loss is {loss_value} at step {step + 1} (epoch {epoch}); stopped before updating the "
                        f"weights; {kept}. Lower --lr, set --clip-grad, or check the data."
                    )
                optimizer.step()
                scheduler.step()
                if ema is not None:
                    ema.update_parameters(model)
                step += 1
                now = time.perf_counter()
                train_time, t_last = train_time + now - t_last, now
                window[0] += loss_value
                window[1] += 1
                epoch_loss += loss_value
                bar.update(1)
                if step % cfg.log_every == 0 or step == total_steps:
                    ips = window[1] * global_batch / max(train_time - window[2], 1e-9)
                    lr = optimizer.param_groups[0]["lr"]
                    metrics.write(
                        kind="step",
                        step=step,
                        epoch=step / steps_per_epoch,
                        loss=window[0] / window[1],
                        lr=lr,
                        img_per_s=ips,
                        time=train_time,
                    )
                    bar.set_postfix(loss=f"{window[0] / window[1]:.4f}", lr=f"{lr:.2e}", img_s=f"{ips:.0f}")
                    window = [0.0, 0, train_time]
                if stop:
                    checkpoint("last.pt")
                    _log(dist, bar, f"SIGTERM: wrote {out / 'last.pt'} at step {step}; continue with --resume {out}")
                    status = "preempted"
                    break
                if step % steps_per_epoch == 0 or step == total_steps:
                    metrics.write(
                        kind="epoch",
                        step=step,
                        epoch=step / steps_per_epoch,
                        loss=epoch_loss / epoch_steps,
                        lr=optimizer.param_groups[0]["lr"],
                        img_per_s=epoch_steps * global_batch / max(train_time - epoch_t0, 1e-9),
                        time=train_time,
                    )
                    if (step // steps_per_epoch) % cfg.eval_every == 0 or step == total_steps:
                        run_eval()
                        last_saved = step
                elif step % cfg.save_every == 0:
                    checkpoint("last.pt")
                    last_saved = step
                t_last = time.perf_counter()
                if step >= total_steps:
                    break
            if status == "preempted":
                break
    bar.close()
    result = TrainResult(status, step, last_top1, best_top1, step * global_batch / max(train_time, 1e-9), out)
    D.cleanup()
    return result
