"""Depthwise 2-D convolution of a channels-last map: stride 1, zero "same" padding, an odd square kernel.

Every vmix mixer but attention has one (SS2D's and NC-SSD's 3×3 before the core, GatedDWConv's 7×7, the CPE's 3×3),
and the layers call it on ``(b, h, w, c)`` maps. Forms: ``reference`` (a sum of shifted slices: the definition, any
dtype), ``aten`` (``F.conv2d`` with ``groups=c``: cuDNN on a GPU, oneDNN on the CPU) and ``triton`` (kernels that
read the map through its strides, GPU). ``"auto"`` takes ``aten``. Measured on an H100 (``bench/RESULTS.md``, runs
18 and 24-27): the kernels' 3×3 forward alone is 1.15-1.7× cuDNN's, but inside compiled ``vssd_tiny`` inference it
costs more kernel time than cuDNN's (3.3 against 2.1 ms a step) and the model runs 7 % slower; their backward is
1.5-2.7× slower, their 7×7 forward 1.5-2× slower. The reference form compiled by Inductor is slower still (0.8×
cuDNN alone, a quarter of ``vssd_tiny``'s inference speed lost once fused with its neighbours).
"""

from __future__ import annotations

import torch.nn.functional as F
from einops import rearrange
from jaxtyping import Float
from torch import Tensor

from vmix._shapecheck import shapecheck
from vmix.ops._autocast import autocast_dtype
from vmix.ops.dwconv.reference import dwconv_reference

try:
    from vmix.ops.dwconv.triton import dwconv_triton
except ImportError:  # no triton: the kernel form is not available
    dwconv_triton = None

__all__ = ["ACTIVATIONS", "IMPLS", "dwconv", "dwconv_aten", "dwconv_reference", "dwconv_triton"]

IMPLS = ("auto", "aten", "reference", "triton")
"""Values accepted by ``impl=``."""

ACTIVATIONS = (None, "silu")
"""Values accepted by ``activation=``: none, or SiLU on the convolution's output (fused into the kernel's store by
``triton``, as ``causal_conv1d``'s ``activation="silu"`` is in Mamba)."""


@shapecheck
def dwconv_aten(
    x: Float[Tensor, "b h w c"],
    weight: Float[Tensor, "c 1 k k"],
    bias: Float[Tensor, " c"] | None = None,
) -> Float[Tensor, "b h w c"]:
    """The depthwise convolution through ``F.conv2d`` (``groups = c``) on the map's NCHW view.

    The view has channels-last strides, which cuDNN and oneDNN take as they are; a channel slice of a wider tensor
    is copied first. Outside autocast the weights are cast to ``x``'s dtype, as ``F.conv2d`` needs one dtype.

    Example:
        >>> import torch
        >>> dwconv_aten(torch.randn(2, 5, 7, 4), torch.randn(4, 1, 3, 3), torch.randn(4)).shape
        torch.Size([2, 5, 7, 4])
    """
    if autocast_dtype(x) is None:
        weight = weight.to(x.dtype)
        bias = None if bias is None else bias.to(x.dtype)
    k = weight.shape[-1]
    y = F.conv2d(rearrange(x, "b h w c -> b c h w"), weight, bias, padding=k // 2, groups=weight.shape[0])
    return rearrange(y, "b c h w -> b h w c")


def _check(x: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    c = x.shape[-1]
    k = weight.shape[-1]
    if weight.shape != (c, 1, k, k) or k % 2 == 0:
        raise ValueError(
            f"dwconv: expected a depthwise weight (c, 1, k, k) with c = {c} channels (x's last axis, channels-last "
            f"(b, h, w, c)) and an odd k; got weight {tuple(weight.shape)} for x {tuple(x.shape)}"
        )
    if bias is not None and bias.shape != (c,):
        raise ValueError(f"dwconv: expected bias ({c},) for x {tuple(x.shape)}; got {tuple(bias.shape)}")


@shapecheck
def dwconv(
    x: Float[Tensor, "b h w c"],
    weight: Float[Tensor, "c 1 k k"],
    bias: Float[Tensor, " c"] | None = None,
    *,
    activation: str | None = None,
    impl: str = "auto",
) -> Float[Tensor, "b h w c"]:
    """Depthwise convolution of a channels-last map: ``y[b, i, j, c] = bias[c] + Σ_{s,t} weight[c, 0, s, t] ·
    x[b, i + s − k//2, j + t − k//2, c]``, zero outside the map, the map's size kept.

    Takes ``nn.Conv2d(c, c, k, padding=k // 2, groups=c)``'s parameters, so a layer keeps its ``Conv2d`` (and its
    state_dict keys) and calls this on its ``(b, h, w, c)`` map. Under autocast the result has autocast's dtype, as
    ``F.conv2d``'s would; otherwise ``x``'s dtype.

    Args:
        x: channels-last map ``(batch, h, w, c)``; a channel slice of a wider tensor is read in place by ``triton``.
        weight: ``(c, 1, k, k)``, ``k`` odd.
        bias: ``(c,)`` or ``None``.
        activation: ``None`` or ``"silu"``, applied to the convolution's output.
        impl: ``"auto"`` (``"aten"``, see above), ``"aten"``, ``"reference"`` or ``"triton"``.

    Returns:
        ``(batch, h, w, c)``.

    Raises:
        ValueError: for a weight that is not ``(c, 1, k, k)`` with an odd ``k``, a bias that is not ``(c,)``, or an
            unknown ``impl`` or ``activation``.
        ImportError: for ``impl="triton"`` without triton.

    Example:
        >>> import torch
        >>> conv = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        >>> dwconv(torch.randn(2, 5, 7, 8), conv.weight, conv.bias).shape
        torch.Size([2, 5, 7, 8])
    """
    _check(x, weight, bias)
    if impl not in IMPLS:
        raise ValueError(f"dwconv: unknown impl {impl!r}; expected one of {IMPLS}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"dwconv: unknown activation {activation!r}; expected one of {ACTIVATIONS}")
    if impl == "triton":
        if dwconv_triton is None:
            raise ImportError("impl='triton' needs triton (pip install triton, on a machine with a GPU)")
        return dwconv_triton(x, weight, bias, activation=activation, out_dtype=autocast_dtype(x) or x.dtype)
    if impl == "reference":
        y = dwconv_reference(x, weight, bias).to(autocast_dtype(x) or x.dtype)
    else:  # "auto" or "aten"
        y = dwconv_aten(x, weight, bias)
    return y if activation is None else F.silu(y)
