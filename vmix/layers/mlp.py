"""The channel MLP of every block (FFN): Linear → GELU → Linear on the last axis."""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor, nn

from vmix._shapecheck import shapecheck
from vmix.ops.mlp import mlp

__all__ = ["Mlp", "init_linear_"]


def init_linear_(*linears: nn.Linear) -> None:
    """Initialise Linears as VMamba, VSSD and timm do: weights trunc_normal(std 0.02, cut at ±2), biases zero.

    Example:
        >>> fc = nn.Linear(4, 8)
        >>> init_linear_(fc)
        >>> bool(fc.bias.eq(0).all())
        True
    """
    for linear in linears:
        nn.init.trunc_normal_(linear.weight, std=0.02)
        if linear.bias is not None:
            nn.init.zeros_(linear.bias)


class Mlp(nn.Module):
    """Two Linears with an activation between them, applied to the last (channel) axis of any tensor.

    The FFN of the VMamba, GConvNet, VSSD and Transformer blocks (hidden ratio 4, or 3 in GConvNet); keys ``fc1``,
    ``fc2`` as in timm and the official checkpoints. No dropout: none of the papers uses it.

    Args:
        in_features: channels in and out.
        hidden_features: channels between the two Linears.
        act_layer: activation class; the default ``nn.GELU`` is the exact (erf) GELU both codebases use. With it
            the layer runs :func:`vmix.ops.mlp` (one kernel on a GPU for inference; ``mlp_impl = "triton"`` trains
            through kernels too, in less memory, at widths up to ``vmix.ops.mlp.MAX_CHANNELS``); with any other
            activation, the three modules in turn.
        bias: biases on both Linears.

    Example:
        >>> import torch
        >>> mlp = Mlp(32, 128)
        >>> mlp(torch.randn(2, 7, 5, 32)).shape
        torch.Size([2, 7, 5, 32])
    """

    mlp_impl: str = "auto"
    """Form of the MLP, passed to :func:`vmix.ops.mlp` (``"auto"``, ``"aten"``, ``"reference"``, ``"triton"``); set
    it on an instance to force one. Not a parameter: the state_dict does not change."""

    def __init__(
        self, in_features: int, hidden_features: int, *, act_layer: type[nn.Module] = nn.GELU, bias: bool = True
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, in_features, bias=bias)
        init_linear_(self.fc1, self.fc2)

    @shapecheck
    def forward(self, x: Float[Tensor, "*batch c"]) -> Float[Tensor, "*batch c"]:
        """Map ``(..., in_features)`` to ``(..., in_features)``."""
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Mlp expects (..., C) with C = in_features = {self.in_features}; got {tuple(x.shape)}")
        if type(self.act) is nn.GELU and self.act.approximate == "none":
            return mlp(x, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias, impl=self.mlp_impl)
        return self.fc2(self.act(self.fc1(x)))
