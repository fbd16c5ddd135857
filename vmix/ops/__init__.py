"""Token-mixer operators: pure functions of tensors, one subpackage per operator.

Each operator has a ``reference`` form (the paper's recurrence, slow on purpose, any dtype) and fast forms that must
agree with it; the public function picks a form with ``impl=``.
"""

from vmix._lazy import lazy_exports

_EXPORTS = {
    "selective_scan": ".selective_scan",
    "selective_scan_reference": ".selective_scan",
    "selective_scan_chunked": ".selective_scan",
    "cross_scan": ".cross_scan",
    "cross_merge": ".cross_scan",
    "cross_scan_reference": ".cross_scan",
    "cross_merge_reference": ".cross_scan",
    "ssd": ".ssd",
    "ssd_reference": ".ssd",
    "ssd_quadratic": ".ssd",
    "ssd_chunked": ".ssd",
    "nc_ssd": ".nc_ssd",
    "nc_ssd_reference": ".nc_ssd",
    "nc_ssd_quadratic": ".nc_ssd",
    "nc_ssd_linear": ".nc_ssd",
    "attention": ".attention",
    "attention_reference": ".attention",
    "attention_sdpa": ".attention",
    "attention_flex": ".attention",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
