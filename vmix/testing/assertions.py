"""Comparing two forms of one function: relative-RMS error with an absolute floor, forward and backward."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Tolerance", "TOLERANCES", "tolerance_for", "rel_rms_error", "assert_close", "assert_forms_agree"]


@dataclass(frozen=True)
class Tolerance:
    """How far two forms may drift apart.

    Attributes:
        rel: largest allowed ``rms(actual - expected) / max(rms(expected), floor)``.
        floor: absolute RMS below which ``expected`` counts as zero, so a tiny reference (a gradient that is almost
            zero, an output of length 1) is compared absolutely rather than relatively.
    """

    rel: float
    floor: float = 1e-6


TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float64: Tolerance(rel=1e-9, floor=1e-12),
    # fp32 accumulation in a different order (chunks, scans) against an fp64 reference. Gradients of parameters
    # shared by every token (dA, dD, d delta_bias) are sums with cancellation: their relative error is fp32's 6e-8
    # times Σ|terms| / |Σ terms|, which reaches 1e-4 on drawn cases; a wrong formula is off by O(1). A gradient that
    # is exactly zero (dA at length 1, where there is no previous state) comes out as the rounding of terms of size
    # O(1) that cancel, about 1e-8: the floor compares such gradients absolutely, at 2e-8.
    torch.float32: Tolerance(rel=2e-4, floor=1e-4),
    # bf16 inputs and outputs: 8 mantissa bits, so rounding alone gives ~4e-3; reductions of a few hundred terms add
    # a little on top.
    torch.bfloat16: Tolerance(rel=2e-2, floor=1e-3),
    torch.float16: Tolerance(rel=5e-3, floor=1e-4),
}


def tolerance_for(dtype: torch.dtype) -> Tolerance:
    """The package's tolerance for a computation whose inputs have ``dtype``.

    Raises:
        ValueError: for a dtype with no tolerance (integer types, complex).
    """
    if dtype not in TOLERANCES:
        raise ValueError(f"no tolerance for dtype {dtype}; expected one of {sorted(map(str, TOLERANCES))}")
    return TOLERANCES[dtype]


def rel_rms_error(actual: Tensor, expected: Tensor, floor: float = 0.0) -> float:
    """``rms(actual - expected) / max(rms(expected), floor)``, computed in float64. NaN or inf in either gives inf."""
    if actual.shape != expected.shape:
        raise ValueError(f"shapes differ: actual {tuple(actual.shape)} vs expected {tuple(expected.shape)}")
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    if not (torch.isfinite(a).all() and torch.isfinite(e).all()):
        return float("inf")
    if a.numel() == 0:
        return 0.0
    err = (a - e).pow(2).mean().sqrt().item()
    scale = max(e.pow(2).mean().sqrt().item(), floor)
    if scale == 0.0:
        return 0.0 if err == 0.0 else float("inf")
    return err / scale


def _flatten(value, prefix: str) -> dict[str, Tensor]:
    if isinstance(value, Tensor):
        return {prefix: value}
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, Sequence) and not isinstance(value, str):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{i}]"))
        return out
    if value is None:
        return {}
    raise TypeError(f"assert_close compares tensors, or dicts/sequences of tensors; got {type(value).__name__}")


def assert_close(actual, expected, tol: Tolerance, name: str = "output") -> None:
    """Assert that ``actual`` matches ``expected`` within ``tol`` (relative RMS error with an absolute floor).

    ``actual`` and ``expected`` may be tensors or matching dicts/sequences of tensors (``None`` entries are skipped
    on both sides). The message names the entry, its error and the tolerance.

    Example:
        >>> x = torch.randn(100, dtype=torch.float64)
        >>> assert_close(x + 1e-12, x, Tolerance(rel=1e-9))
    """
    got, want = _flatten(actual, name), _flatten(expected, name)
    if got.keys() != want.keys():
        raise AssertionError(f"{name}: entries differ: {sorted(got)} vs {sorted(want)}")
    failures = []
    for key in got:
        err = rel_rms_error(got[key], want[key], tol.floor)
        if not err <= tol.rel:
            failures.append(f"{key}: rel-RMS error {err:.3e} > {tol.rel:.1e} (shape {tuple(want[key].shape)})")
    if failures:
        raise AssertionError("forms disagree:\n  " + "\n  ".join(failures))


def assert_forms_agree(
    fast: Callable[..., Tensor],
    reference: Callable[..., Tensor],
    inputs: Mapping[str, Tensor | object],
    tol: Tolerance,
    *,
    grad: bool = True,
    reference_dtype: torch.dtype | None = torch.float64,
    seed: int = 0,
    magnitudes: Sequence[str] = (),
) -> None:
    """Assert that ``fast(**inputs)`` equals ``reference(**inputs)``, output and every input gradient.

    The reference runs on inputs upcast to ``reference_dtype`` (float64 by default: the reference is the definition,
    computed as exactly as we can). Both outputs are pulled back through the same random upstream gradient, and the
    gradient of every floating-point tensor input is compared as well.

    Args:
        fast: the form under test.
        reference: the definition it must match.
        inputs: keyword arguments of both; tensors that are floating point get gradients when ``grad`` is true.
        tol: tolerance for the output and each gradient.
        grad: also compare gradients.
        reference_dtype: dtype the reference runs in (``None`` keeps the inputs' dtypes).
        seed: seed of the random upstream gradient.
        magnitudes: inputs to replace by their absolute values in a third run of the reference (pulled back through
            the upstream gradient's absolute value), chosen so that every term of its sums is positive; each entry's
            floor is then at least that run's RMS. A form that rounds each term to a low precision (bf16 matrix
            products) errs by a few units of that precision times the sums of the terms' magnitudes, which is large
            against a result whose terms cancel: this measures the error against that bound instead.

    Example:
        >>> x = torch.randn(4, 5)
        >>> assert_forms_agree(lambda x: x.cumsum(-1), lambda x: torch.stack(
        ...     [x[:, : i + 1].sum(-1) for i in range(x.shape[-1])], -1), {"x": x}, Tolerance(rel=1e-5))
    """

    def prepare(dtype: torch.dtype | None) -> dict:
        out = {}
        for key, value in inputs.items():
            if isinstance(value, Tensor) and value.is_floating_point():
                v = value.detach().clone()
                if dtype is not None:
                    v = v.to(dtype)
                out[key] = v.requires_grad_(grad)
            else:
                out[key] = value
        return out

    fast_inputs, ref_inputs = prepare(None), prepare(reference_dtype)
    out = fast(**fast_inputs)
    ref = reference(**ref_inputs)
    if magnitudes:
        mag_inputs = {
            k: (v.detach().abs() if k in magnitudes else v.detach()).requires_grad_(grad)
            if isinstance(v, Tensor) and v.is_floating_point()
            else v
            for k, v in ref_inputs.items()
        }
        mag = reference(**mag_inputs)

    def check(got, want, scale, name):
        if not magnitudes:
            return assert_close(got, want, tol, name=name)
        scales, wants = _flatten(scale, name), _flatten(want, name)
        for key, value in _flatten(got, name).items():
            rms = scales[key].detach().double().pow(2).mean().sqrt().item()
            assert_close(value, wants[key], Tolerance(tol.rel, max(tol.floor, rms)), name=key)

    check(out, ref, mag if magnitudes else None, "output")
    if not grad:
        return
    gen = torch.Generator().manual_seed(seed)
    # Both forms get the same upstream gradient, rounded to the fast form's dtype: rounding it for one side only
    # would show up as error in gradients that are sums with cancellation (dA, dD, dB).
    upstream = torch.randn(ref.shape, generator=gen, dtype=torch.float64).to(out.dtype).to(torch.float64)
    (out * upstream.to(device=out.device, dtype=out.dtype)).sum().backward()
    (ref * upstream.to(device=ref.device, dtype=ref.dtype)).sum().backward()
    got = {f"d{k}": v.grad for k, v in fast_inputs.items() if isinstance(v, Tensor) and v.requires_grad}
    want = {f"d{k}": v.grad for k, v in ref_inputs.items() if isinstance(v, Tensor) and v.requires_grad}
    missing = [k for k in got if (got[k] is None) != (want[k] is None)]
    if missing:
        raise AssertionError(f"gradient present in one form only: {missing}")
    scale = None
    if magnitudes:
        (mag * upstream.abs().to(device=mag.device, dtype=mag.dtype)).sum().backward()
        scale = {f"d{k}": v.grad for k, v in mag_inputs.items() if isinstance(v, Tensor) and v.grad is not None}
    check(
        {k: v for k, v in got.items() if v is not None},
        {k: v for k, v in want.items() if v is not None},
        scale,
        name="",
    )
