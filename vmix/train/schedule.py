"""Per-step learning-rate schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class WarmupCosine:
    """Multiplier of the peak learning rate at a step (``LambdaLR``'s ``lr_lambda``).

    Linear from ``warmup_lr`` to the peak over ``warmup_steps``, then half a cosine from the peak down to ``min_lr``
    at ``total_steps`` (timm's ``CosineLRScheduler`` with ``t_in_epochs=False``, the papers' per-step form). A
    dataclass rather than a closure so ``LambdaLR.state_dict`` saves it.

    Attributes:
        peak_lr: learning rate after warm-up.
        total_steps: steps of the whole run.
        warmup_steps: warm-up steps.
        warmup_lr: rate at step 0.
        min_lr: rate at the last step.

    Example:
        >>> f = WarmupCosine(peak_lr=1.0, total_steps=10, warmup_steps=2, warmup_lr=0.0, min_lr=0.0)
        >>> [round(f(s), 3) for s in (0, 1, 2, 6, 10)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    peak_lr: float
    total_steps: int
    warmup_steps: int = 0
    warmup_lr: float = 0.0
    min_lr: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            lr = self.warmup_lr + (self.peak_lr - self.warmup_lr) * step / self.warmup_steps
        else:
            t = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
            lr = self.min_lr + 0.5 * (self.peak_lr - self.min_lr) * (1.0 + math.cos(math.pi * t))
        return lr / self.peak_lr


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: WarmupCosine) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` stepping ``schedule`` once per optimizer step; the optimizer's lr must be the peak.

    Example:
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = build_scheduler(opt, WarmupCosine(1.0, total_steps=4, warmup_steps=2))
        >>> opt.param_groups[0]["lr"]
        0.0
    """
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
