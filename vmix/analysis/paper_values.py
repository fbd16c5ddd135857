"""Parameters, FLOPs and ImageNet-1k top-1 as the papers print them, to show beside vmix's own counts.

Sources: the GConvNet paper (Table 1: parameters and GFLOPs at 224²; Table 2 and Table 6: top-1) and the VSSD paper
(Table 1: parameters and GFLOPs; Table 2: top-1). A missing number was not printed for that model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperValues:
    """Printed numbers of one model: parameters in millions, GFLOPs at 224², top-1 in %, and where they are printed.

    Example:
        >>> PAPER_VALUES["vmamba_tiny"].params_m
        30.7
    """

    params_m: float | None
    gflops: float | None
    top1: float | None
    source: str


PAPER_VALUES: dict[str, PaperValues] = {
    "vmamba_pico": PaperValues(7.9, 1.27, 79.1, "GConvNet paper, Tables 1-2"),
    "vmamba_tiny": PaperValues(30.7, 4.86, 82.6, "GConvNet paper, Tables 1-2"),
    "vmamba_small": PaperValues(50.1, 8.72, 83.6, "GConvNet paper, Tables 1-2"),
    "gconvnet_pico": PaperValues(8.0, 1.27, 78.4, "GConvNet paper, Tables 1-2"),
    "gconvnet_tiny": PaperValues(30.8, 4.88, 82.2, "GConvNet paper, Tables 1-2"),
    "gconvnet_small": PaperValues(50.8, 8.79, 83.1, "GConvNet paper, Tables 1-2"),
    "vmamba_hybrid1_pico": PaperValues(None, None, 79.1, "GConvNet paper, Table 6"),
    "vmamba_hybrid1_tiny": PaperValues(None, None, 82.6, "GConvNet paper, Table 6"),
    "vmamba_hybrid1_small": PaperValues(None, None, 84.2, "GConvNet paper, Table 6"),
    "gconvnet_hybrid1_pico": PaperValues(None, None, 78.9, "GConvNet paper, Table 6"),
    "gconvnet_hybrid1_tiny": PaperValues(None, None, 82.8, "GConvNet paper, Table 6"),
    "gconvnet_hybrid1_small": PaperValues(None, None, 83.5, "GConvNet paper, Table 6"),
    "vssd_micro": PaperValues(14.0, 2.3, 82.5, "VSSD paper, Tables 1-2"),
    "vssd_tiny": PaperValues(24.0, 4.5, 83.7, "VSSD paper, Tables 1-2"),
    "vssd_small": PaperValues(40.0, 7.4, 84.1, "VSSD paper, Tables 1-2"),
    "vssd_base": PaperValues(89.0, 16.1, 84.7, "VSSD paper, Tables 1-2"),
}
