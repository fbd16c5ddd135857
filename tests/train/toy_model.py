"""A toy model for the training tests, importable by the subprocesses they start (torchrun, SIGTERM)."""

import torch
from torch import nn


class Toy(nn.Module):
    """A conv net small enough for many steps per second on a shared CPU, with drop-path-like randomness."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 4, 4)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.conv(x).mean((2, 3))
        if self.training:  # random like DropPath, so exact resume must restore the torch generator
            x = x * (torch.rand(x.shape[0], 1) > 0.1)
        return self.head(self.norm(x))
