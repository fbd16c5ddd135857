"""Stochastic depth: drop a residual branch for whole samples during training."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from vmix._shapecheck import shapecheck

__all__ = ["DropPath"]


class DropPath(nn.Module):
    """Zero a residual branch for each sample with probability ``drop_prob`` and rescale the kept ones by ``1/keep``.

    timm's semantics (Huang et al., 2016, as used by VMamba, VSSD and MambaOut): one Bernoulli draw per sample, so a
    sample's whole branch is kept or dropped; the ``1/keep`` scale keeps the expected value unchanged, so evaluation
    (and ``drop_prob = 0``) is the identity.

    Args:
        drop_prob: probability of dropping a sample's branch, in ``[0, 1]``.

    Example:
        >>> import torch
        >>> drop = DropPath(0.2).eval()
        >>> x = torch.randn(4, 7, 7, 32)
        >>> bool(drop(x).equal(x))
        True
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob <= 1.0:
            raise ValueError(f"drop_prob must be in [0, 1]; got {drop_prob}")
        self.drop_prob = float(drop_prob)
        # Compiled code reads the rate from buffers and one bool, never from the float itself, which Dynamo would
        # guard on: blocks that differ only in their rate then share one compiled graph.
        keep = 1.0 - self.drop_prob
        self.active = self.drop_prob > 0.0
        self.register_buffer("keep_prob", torch.tensor(keep), persistent=False)
        self.register_buffer("scale", torch.tensor(1.0 / keep if keep > 0.0 else 0.0), persistent=False)

    @shapecheck
    def forward(self, x: Float[Tensor, "b *rest"]) -> Float[Tensor, "b *rest"]:  # noqa: F821 (shape string)
        """Drop whole samples of ``x`` (first axis) in training mode; identity in eval mode."""
        if not (self.active and self.training):
            return x
        draw = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device, dtype=self.keep_prob.dtype)
        return x * (draw < self.keep_prob).to(x.dtype) * self.scale.to(x.dtype)  # scale 0 when all are dropped

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"
