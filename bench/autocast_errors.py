"""How far a form run under bf16 autocast on a GPU is from the float64 reference, output and every gradient."""

from __future__ import annotations

from collections.abc import Callable

import torch

import vmix.testing as vt


def autocast_errors(form: Callable, reference: Callable, inputs: tuple[torch.Tensor, ...]) -> list[float]:
    """Rel-RMS errors of ``form(*inputs)`` under bf16 autocast against ``reference`` on the inputs in float64: the
    output, then the gradient of each input, both pulled back through one random float64 upstream gradient."""
    ours = [t.detach().clone().requires_grad_() for t in inputs]
    exact = [t.detach().double().requires_grad_() for t in inputs]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        got = form(*ours)
    want = reference(*exact)
    upstream = torch.randn(want.shape, device=want.device, dtype=torch.float64)
    got.backward(upstream.to(got.dtype))
    want.backward(upstream)
    return [vt.rel_rms_error(got.detach(), want.detach())] + [
        vt.rel_rms_error(o.grad, e.grad) for o, e in zip(ours, exact, strict=True)
    ]
