"""Token-mixer operators: pure functions of tensors, one subpackage per operator.

Each operator has a ``reference`` form (the paper's recurrence, slow on purpose, any dtype) and fast forms that must
agree with it; the public function picks a form with ``impl=``.

The public functions are imported eagerly: each shares its name with its subpackage, and a lazy export would be
shadowed by the subpackage as soon as anything imported it.
"""

from vmix.ops.attention import attention, attention_flex, attention_reference, attention_sdpa
from vmix.ops.cross_scan import cross_merge, cross_merge_reference, cross_scan, cross_scan_reference
from vmix.ops.dwconv import dwconv, dwconv_aten, dwconv_reference
from vmix.ops.mlp import mlp, mlp_aten, mlp_reference
from vmix.ops.nc_ssd import nc_ssd, nc_ssd_linear, nc_ssd_quadratic, nc_ssd_reference
from vmix.ops.selective_scan import selective_scan, selective_scan_chunked, selective_scan_reference
from vmix.ops.ss2d_core import ss2d_core, ss2d_core_composed, ss2d_core_reference
from vmix.ops.ssd import ssd, ssd_chunked, ssd_quadratic, ssd_reference

__all__ = [
    "attention",
    "attention_flex",
    "attention_reference",
    "attention_sdpa",
    "cross_merge",
    "cross_merge_reference",
    "cross_scan",
    "cross_scan_reference",
    "dwconv",
    "dwconv_aten",
    "dwconv_reference",
    "mlp",
    "mlp_aten",
    "mlp_reference",
    "nc_ssd",
    "nc_ssd_linear",
    "nc_ssd_quadratic",
    "nc_ssd_reference",
    "selective_scan",
    "selective_scan_chunked",
    "selective_scan_reference",
    "ss2d_core",
    "ss2d_core_composed",
    "ss2d_core_reference",
    "ssd",
    "ssd_chunked",
    "ssd_quadratic",
    "ssd_reference",
]
