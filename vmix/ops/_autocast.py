"""Which dtype autocast gives a tensor's operations: the ops whose fast forms are not aten calls ask it themselves."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["autocast_dtype"]


def autocast_dtype(x: Tensor) -> torch.dtype | None:
    """The dtype autocast gives ``x``'s device, or ``None`` when it is off (or does not exist there: meta tensors).

    Example:
        >>> with torch.autocast("cpu", dtype=torch.bfloat16):
        ...     autocast_dtype(torch.zeros(1))
        torch.bfloat16
    """
    device = x.device.type
    # Not torch.amp.is_autocast_available: Dynamo in torch 2.11 cannot trace it.
    if device in ("cpu", "cuda") and torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return None
