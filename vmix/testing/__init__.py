"""Property-testing tools for token mixers: hypothesis strategies and form-against-reference assertions.

Public so that users can test their own mixers the way vmix tests its own: draw inputs with the strategies, compute
the fast form and the recurrent reference, and compare them forward and backward with :func:`assert_forms_agree`.
"""

from vmix.testing.assertions import (
    TOLERANCES,
    Tolerance,
    assert_close,
    assert_forms_agree,
    rel_rms_error,
    tolerance_for,
)
from vmix.testing.strategies import (
    Case,
    attention_cases,
    dwconv_cases,
    float_dtypes,
    image_cases,
    lengths,
    mlp_cases,
    nc_ssd_cases,
    selective_scan_cases,
    ss2d_core_cases,
    ssd_cases,
)

__all__ = [
    "TOLERANCES",
    "Case",
    "Tolerance",
    "assert_close",
    "assert_forms_agree",
    "attention_cases",
    "dwconv_cases",
    "float_dtypes",
    "image_cases",
    "lengths",
    "mlp_cases",
    "nc_ssd_cases",
    "rel_rms_error",
    "selective_scan_cases",
    "ss2d_core_cases",
    "ssd_cases",
    "tolerance_for",
]
