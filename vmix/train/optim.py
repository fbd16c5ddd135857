"""AdamW with the papers' parameter groups and linear learning-rate scaling."""

from __future__ import annotations

import torch
from torch import nn


def scaled_lr(base_lr: float, batch_size: int, reference_batch: int = 1024) -> float:
    """Linear scaling rule: ``base_lr`` is the rate at ``reference_batch``; scale it to the global ``batch_size``.

    Example:
        >>> scaled_lr(1e-3, 256)
        0.00025
    """
    return base_lr * batch_size / reference_batch


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed weights, and undecayed norms, biases and every other 1-D parameter.

    This is the rule of Swin's and VMamba's ``build_optimizer`` (no decay when ``ndim <= 1`` or the name ends in
    ``.bias``): norm scales, biases and VMamba's ``Ds`` skip decay, 2-D SSM parameters are decayed.

    Args:
        model: the model (may be wrapped in DDP or ``torch.compile``; names are not used beyond the ``.bias`` suffix).
        weight_decay: decay of the first group.

    Returns:
        Parameter groups for ``torch.optim.AdamW``.

    Example:
        >>> groups = param_groups(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), 0.05)
        >>> [len(g["params"]) for g in groups], [g["weight_decay"] for g in groups]
        ([1, 3], [0.05, 0.0])
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(
    model: nn.Module, *, lr: float, weight_decay: float = 0.05, betas=(0.9, 0.999), eps: float = 1e-8
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` (fused on CUDA).

    Example:
        >>> opt = build_optimizer(nn.Linear(2, 2), lr=1e-3)
        >>> [g["weight_decay"] for g in opt.param_groups]
        [0.05, 0.0]
    """
    on_cuda = next(model.parameters()).is_cuda
    return torch.optim.AdamW(
        param_groups(model, weight_decay), lr=lr, betas=tuple(betas), eps=eps, fused=True if on_cuda else None
    )
