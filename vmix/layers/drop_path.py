"""Stochastic depth: drop a residual branch for whole samples during training."""

from __future__ import annotations

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

    @shapecheck
    def forward(self, x: Float[Tensor, "b *rest"]) -> Float[Tensor, "b *rest"]:  # noqa: F821 (shape string)
        """Drop whole samples of ``x`` (first axis) in training mode; identity in eval mode."""
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        # With keep = 0 every sample is dropped; there is nothing to rescale.
        return x * (mask / keep if keep > 0.0 else mask)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"
