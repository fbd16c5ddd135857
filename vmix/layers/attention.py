"""Global multi-head self-attention over every token of a channels-last map."""

from __future__ import annotations

from einops import rearrange
from jaxtyping import Float
from torch import Tensor, nn

from vmix._shapecheck import shapecheck
from vmix.layers.mlp import init_linear_
from vmix.ops.attention import IMPLS, attention

__all__ = ["Attention"]


class Attention(nn.Module):
    """Multi-head softmax self-attention over all ``H·W`` tokens, ``(B, H, W, C) -> (B, H, W, C)``.

    The MSA of the hybrid models' Transformer blocks (GConvNet paper, Eq. 2) and of VSSD's last stage: one ``qkv``
    Linear whose ``3C`` outputs are ``[q | k | v]``, each head-major ``(heads head_dim)`` exactly like timm's
    ``Attention.qkv`` and VSSD's ``to_qkv``, scale ``head_dim^-0.5``, no mask, no position bias, then ``proj``. The
    position signal comes from a separate :class:`~vmix.layers.ConvPosEnc` step of the block. Attention itself is
    :func:`vmix.ops.attention`, so ``impl`` picks SDPA or FlexAttention.

    Args:
        dim: channels ``C``.
        heads: number of heads; ``dim // head_dim`` when ``None``. Must divide ``dim``.
        head_dim: channels per head when ``heads`` is ``None`` (32 in both papers). Must divide ``dim``.
        qkv_bias: bias on ``qkv`` (VSSD has none; the hybrids are assumed to have one).
        proj_bias: bias on ``proj``.
        impl: attention form, see :func:`vmix.ops.attention`.

    Example:
        >>> import torch
        >>> attn = Attention(64)  # 2 heads of 32
        >>> attn(torch.randn(2, 7, 5, 64)).shape
        torch.Size([2, 7, 5, 64])
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int | None = None,
        head_dim: int = 32,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if heads is None:
            if head_dim < 1 or dim % head_dim:
                raise ValueError(f"dim={dim} must be divisible by head_dim={head_dim} (or pass heads=)")
            heads = dim // head_dim
        elif heads < 1 or dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        if impl != "auto" and impl not in IMPLS:
            raise ValueError(f"unknown attention impl {impl!r}; expected 'auto' or one of {sorted(IMPLS)}")
        self.dim = dim
        self.heads = heads
        self.head_dim = dim // heads
        self.impl = impl
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        init_linear_(self.qkv, self.proj)

    @shapecheck
    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h w c"]:
        """Attend from every token of the channels-last map ``x`` (``C = dim``) to every other."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"Attention expects (B, H, W, C) with C = dim = {self.dim}; got {tuple(x.shape)}")
        qkv = rearrange(self.qkv(x), "b h w (three n d) -> three b n (h w) d", three=3, n=self.heads)
        y = attention(qkv[0], qkv[1], qkv[2], impl=self.impl)
        # The projection runs on the flat token sequence; see vmix.models.blocks.VSSBlock.forward for why.
        return self.proj(rearrange(y, "b n l d -> b l (n d)")).unflatten(1, x.shape[1:3])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, head_dim={self.head_dim}, impl={self.impl!r}"
