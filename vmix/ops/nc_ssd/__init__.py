"""VSSD's non-causal state space duality (NC-SSD): every token reads one global state.

``y_l = Σ_s (C_l · B_s) m_s x_s + D x_l`` with the per-token weight ``m = dt · (−A)`` (VSSD, Shi et al. 2024,
Eq. 10). Computed as the bidirectional recurrence the paper derives it from (``nc_ssd_reference``), as an unmasked
attention-like product (``nc_ssd_quadratic``) or in linear time (``nc_ssd_linear``, the form models use). See
``README.md`` beside this file for the math and the numerics.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from vmix._opcount import counted
from vmix._shapecheck import shapecheck
from vmix.ops.nc_ssd.linear import nc_ssd_linear
from vmix.ops.nc_ssd.quadratic import nc_ssd_quadratic
from vmix.ops.nc_ssd.reference import nc_ssd_reference
from vmix.ops.ssd import check_ssd_inputs

__all__ = ["IMPLS", "nc_ssd", "nc_ssd_reference", "nc_ssd_quadratic", "nc_ssd_linear"]

_FORMS = {"auto": nc_ssd_linear, "linear": nc_ssd_linear, "quadratic": nc_ssd_quadratic, "reference": nc_ssd_reference}
IMPLS = tuple(_FORMS)
"""The accepted values of ``impl``."""


@counted("nc_ssd")
@shapecheck
def nc_ssd(
    x: Float[Tensor, "b l h p"],
    dt: Float[Tensor, "b l h"],
    A: Float[Tensor, " h"],
    B: Float[Tensor, "b l g n"],
    C: Float[Tensor, "b l g n"],
    D: Float[Tensor, " h"] | None = None,
    *,
    impl: str = "auto",
) -> Float[Tensor, "b l h p"]:
    """VSSD's non-causal SSD: ``y_l = Σ_s (C_l · B_s) m_s x_s + D x_l``, ``m = dt · (−A)``, no mask, no normaliser.

    Takes the causal :func:`vmix.ops.ssd`'s arguments (the official code feeds the same ``dt`` and ``A``), but head
    ``j`` reads group ``j % groups`` as the official non-causal code does, not Mamba2's ``j // (heads // groups)``.
    Returns ``x``'s dtype. The inputs' dtypes, not autocast (turned off here), decide the precision: float32 and
    float64 inputs are computed in float32 (float64). For bfloat16 or float16 ``x``, ``B`` and ``C``, the linear form
    (``"auto"``) computes ``x · m`` in float32 and rounds it once to the input dtype, runs both contractions over
    tokens with operands in that dtype (GEMMs that accumulate in float32; the state ``S`` comes out in that dtype)
    and adds the skip ``D x`` in float32 before the final cast: float32 copies of the ``(batch, length, heads ·
    head_dim)`` tensors would cost memory traffic for little accuracy, the GEMMs accumulating in float32 anyway.
    ``"quadratic"`` and ``"reference"`` compute in float32 for 16-bit inputs.

    Args:
        x: inputs, ``(batch, length, heads, head_dim)``.
        dt: step sizes, positive, ``(batch, length, heads)``.
        A: per-head rate, negative so that ``m > 0``, ``(heads,)``.
        B: input projections (keys), ``(batch, length, groups, d_state)``.
        C: output projections (queries), same shape as ``B``.
        D: per-head skip weight ``(heads,)``, or ``None`` for no skip.
        impl: ``"auto"`` (linear), ``"linear"``, ``"quadratic"`` or ``"reference"``.

    Returns:
        ``y``, ``(batch, length, heads, head_dim)`` in ``x``'s dtype.

    Raises:
        ValueError: for inputs whose shapes do not fit together, or an unknown ``impl``.

    Example:
        >>> b, l, h, p, g, n = 2, 10, 4, 8, 2, 16
        >>> y = nc_ssd(torch.randn(b, l, h, p), torch.rand(b, l, h), -torch.rand(h), torch.randn(b, l, g, n),
        ...            torch.randn(b, l, g, n), torch.ones(h))
        >>> y.shape
        torch.Size([2, 10, 4, 8])
    """
    check_ssd_inputs(x, dt, A, B, C, D, op="nc_ssd")
    if impl not in _FORMS:
        raise ValueError(f"nc_ssd: unknown impl {impl!r}; expected one of {', '.join(map(repr, _FORMS))}")
    # The inputs' dtypes decide the precision: autocast would turn float32 inputs' contractions to bf16.
    with torch.autocast(device_type=x.device.type, enabled=False):
        return _FORMS[impl](x, dt, A, B, C, D)
