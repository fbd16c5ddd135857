"""Parameter and FLOP counting, the papers' way (``mode="paper"``) or counting all the work (``mode="exact"``).

FLOPs are multiply-accumulates, counted by shape while the model runs once:

- A ``TorchDispatchMode`` sees every aten op: ``mm``/``addmm``/``bmm`` and ``convolution`` count their MACs without the
  bias, LayerNorm 5 per element (4 without affine), BatchNorm in eval 2 per element, average pooling (``mean``
  included) 1 per input element; with ``mode="exact"`` every pointwise op and reduction also counts 1 per element.
- The token-mixer operators (``selective_scan``, ``ssd``, ``nc_ssd``, ``attention``, wrapped with
  :func:`vmix._opcount.counted`) are counted by a formula of their argument shapes, and the tensor ops inside them are
  not counted, whichever form computes them.

``mode="paper"`` reproduces the fvcore conventions of the VMamba, GConvNet, MambaOut and VSSD tables: elementwise work
is free, the selective scan costs ``9·B·L·D·N + B·L·D`` (VMamba's ``flops_selective_scan_fn``), attention ``2·L²·C``
(fvcore counts ``scaled_dot_product_attention`` as 0, the papers add it), NC-SSD's two broadcast contractions
``2·B·L·G·N·P`` (fvcore's matmul rule misses the head axis) and the causal SSD / Bi-SSD scan 0 (a Triton kernel
fvcore cannot see). One convention is unified: global average pooling counts 1 per input element in every family
(VMamba's fvcore count includes it; MambaOut's ``mean`` and VSSD's ``AdaptiveAvgPool1d`` were counted 0, so their
vmix counts are ``C·h·w`` of the last map higher, 28,224 for MambaOut-Tiny, 18,816 for VSSD-Micro).
``mode="exact"`` counts NC-SSD's contractions over every head, the causal scan's recurrence,
attention's softmax and all elementwise work.

The model may live on the ``meta`` device: shapes are all that is needed, so full-size models count in
milliseconds without allocating their weights.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from vmix._opcount import pop_counter, push_counter

__all__ = ["FlopCounter", "count_flops", "count_params"]

aten = torch.ops.aten
MODES = ("paper", "exact")


def count_params(model: nn.Module) -> int:
    """Number of parameters (buffers such as BatchNorm statistics excluded), as fvcore's ``parameter_count``.

    Example:
        >>> count_params(nn.Linear(3, 4))
        16
    """
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------- aten op formulas
def _mm(args, out) -> int:
    a, b = args[-2], args[-1]  # addmm(bias, a, b) / mm(a, b): bias not counted
    return a.shape[0] * a.shape[1] * b.shape[1]


def _bmm(args, out) -> int:
    a, b = args[-2], args[-1]
    return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]


def _conv(args, out) -> int:
    weight = args[1]  # (C_out, C_in / groups, *kernel); every output element is one dot product of that size
    return out.numel() * math.prod(weight.shape[1:])


def _layer_norm(args, out) -> int:
    weight = args[2] if len(args) > 2 else None
    return args[0].numel() * (5 if weight is not None else 4)


def _batch_norm_eval(args, out) -> int:
    return args[0].numel() * (2 if args[1] is not None else 1)


def _batch_norm(args, out) -> int:
    training = args[5]
    if training:
        return args[0].numel() * (5 if args[1] is not None else 4)
    return _batch_norm_eval(args, out)


def _input_elements(args, out) -> int:
    return args[0].numel()


_ATEN: dict = {
    aten.mm.default: _mm,
    aten.addmm.default: _mm,
    aten.bmm.default: _bmm,
    aten.baddbmm.default: _bmm,
    aten.convolution.default: _conv,
    aten.native_layer_norm.default: _layer_norm,
    aten._native_batch_norm_legit_no_training.default: _batch_norm_eval,
    aten._native_batch_norm_legit.default: _batch_norm,
    aten.native_batch_norm.default: _batch_norm,
    aten._adaptive_avg_pool2d.default: _input_elements,
    aten.mean.dim: _input_elements,  # global average pooling
}
# Counted only in "exact" mode, besides every op tagged pointwise: reductions and softmax, 1 per input element.
_EXACT_REDUCTIONS = {
    aten.sum.dim_IntList,
    aten.amax.default,
    aten._softmax.default,
    aten._log_softmax.default,
    aten.cumsum.default,
}


# --------------------------------------------------------------------------------------- mixer operator formulas
def _selective_scan(a: dict, mode: str) -> int:
    b, d, length = a["u"].shape
    n = a["A"].shape[-1]
    flops = 9 * b * length * d * n + (b * d * length if a.get("D") is not None else 0)
    if mode == "exact":  # Δ bias and softplus, elementwise
        flops += b * d * length * (int(a.get("delta_bias") is not None) + int(bool(a.get("delta_softplus"))))
    return flops


def _ssd(a: dict, mode: str) -> int:
    if mode == "paper":
        return 0  # a Triton kernel in the official code, invisible to fvcore
    b, length, h, p = a["x"].shape
    n = a["B"].shape[-1]
    # per token and head: decay the n×p state, add the outer product, read it out with C; D skip
    return 3 * b * length * h * n * p + (b * length * h * p if a.get("D") is not None else 0)


def _nc_ssd(a: dict, mode: str) -> int:
    b, length, h, p = a["x"].shape
    g, n = a["B"].shape[-2:]
    if mode == "paper":
        # fvcore's matmul rule (numel of the first operand × last dim of the second) misses the broadcast head axis
        return 2 * b * length * g * n * p
    # S = Bᵀ(x·m), Y = C S over every head; x·m, m = dt·(−A), D skip
    skip = b * length * h * p if a.get("D") is not None else 0
    return 2 * b * length * h * n * p + b * length * h * p + b * length * h + skip


def _attention(a: dict, mode: str) -> int:
    b, h, length, d = a["q"].shape
    flops = 2 * b * h * length * length * d  # q kᵀ and (attn) v
    if mode == "exact":  # scaling q, softmax
        flops += b * h * length * d + b * h * length * length
    return flops


def _cross_scan(a: dict, mode: str) -> int:
    return 0  # pure data movement


def _cross_merge(a: dict, mode: str) -> int:
    # summing the directions back: one add per element of the per-direction input (paper: elementwise, free)
    first = next(v for v in a.values() if isinstance(v, torch.Tensor))
    return first.numel() if mode == "exact" else 0


OP_FORMULAS: dict[str, Callable[[dict, str], int]] = {
    "selective_scan": _selective_scan,
    "ssd": _ssd,
    "nc_ssd": _nc_ssd,
    "attention": _attention,
    "cross_scan": _cross_scan,
    "cross_merge": _cross_merge,
}
# The argument whose shape (and dtype) an operator's output has: on the meta device the output is made from it instead
# of running the operator, whose device-specific paths (autocast, kernels) meta tensors do not support.
OUTPUT_LIKE = {"selective_scan": "u", "ssd": "x", "nc_ssd": "x", "attention": "v"}


class FlopCounter(TorchDispatchMode):
    """Counts FLOPs (multiply-accumulates) of everything run inside ``with FlopCounter(mode) as c:``.

    Attributes:
        total: FLOPs counted so far.
        by_op: FLOPs per aten op or mixer operator name.

    Example:
        >>> with FlopCounter("paper") as counter:
        ...     _ = nn.Linear(8, 4)(torch.randn(2, 8))
        >>> counter.total
        64
    """

    def __init__(self, mode: str = "paper") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
        self.mode = mode
        self.total = 0
        self.by_op: Counter[str] = Counter()
        self._inside = 0  # > 0 while a formula-counted mixer operator runs

    def _add(self, name: str, flops: int) -> None:
        self.total += flops
        self.by_op[name] += flops

    def __enter__(self):
        push_counter(self)
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            pop_counter()

    def op(self, name: str, fn: Callable, args: tuple, kwargs: dict):
        """Account for one call of mixer operator ``name`` by its formula, then run it uncounted."""
        formula = OP_FORMULAS.get(name)
        if formula is None or self._inside:
            return fn(*args, **kwargs)  # unknown operator: its tensor ops are counted one by one
        arguments = dict(inspect.signature(fn).bind(*args, **kwargs).arguments)
        self._add(name, formula(arguments, self.mode))
        like = arguments.get(OUTPUT_LIKE.get(name, ""))
        if isinstance(like, torch.Tensor) and like.device.type == "meta":
            return torch.empty_like(like)
        self._inside += 1
        try:
            return fn(*args, **kwargs)
        finally:
            self._inside -= 1

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self._inside:
            return out
        rule = _ATEN.get(func)
        if rule is not None:
            self._add(str(func.overloadpacket.__name__), rule(args, out))
        elif self.mode == "exact" and isinstance(out, torch.Tensor) and out.is_floating_point():
            if torch.Tag.pointwise in func.tags:
                self._add("pointwise", out.numel())
            elif func in _EXACT_REDUCTIONS:
                self._add("reduction", args[0].numel())
        return out


def count_flops(
    model: nn.Module, input_shape: Sequence[int] = (3, 224, 224), mode: str = "paper", *, batch_size: int = 1
) -> int:
    """FLOPs (multiply-accumulates) of one forward pass of ``model`` in eval mode on a random input.

    Args:
        model: any module taking one ``(batch_size, *input_shape)`` tensor; may live on the ``meta`` device.
        input_shape: input shape without the batch axis.
        mode: ``"paper"`` (fvcore's conventions as the papers count) or ``"exact"`` (all the work).
        batch_size: images per forward pass; FLOPs scale linearly with it.

    Returns:
        The count, an int.

    Example:
        >>> import vmix
        >>> with torch.device("meta"):
        ...     model = vmix.create_model("gconvnet_tiny")
        >>> count_flops(model)
        4873848576
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.randn(batch_size, *input_shape, device=device, dtype=dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounter(mode) as counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.total
