"""Exponential moving average of the weights (EMA 0.9999 in VMamba's and VSSD's recipe)."""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def build_ema(model: nn.Module, decay: float = 0.9999) -> AveragedModel:
    """An EMA copy of ``model`` (``torch.optim.swa_utils.AveragedModel``), averaging parameters and buffers.

    Call ``ema.update_parameters(model)`` after each optimizer step; evaluate ``ema.module``. Its ``state_dict``
    holds the averaged weights and the update count, so checkpoints resume it exactly.

    Args:
        model: the (unwrapped, uncompiled) model.
        decay: weight of the running average at each update.

    Example:
        >>> import torch
        >>> net = nn.Linear(2, 2)
        >>> ema = build_ema(net, decay=0.5)
        >>> ema.update_parameters(net)
        >>> bool(torch.equal(ema.module.weight, net.weight))
        True
    """
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
