"""Token mixers and the small modules blocks are made of.

Every token mixer maps channels-last feature maps ``(B, H, W, C) -> (B, H, W, C)`` at any ``H`` and ``W``, so any
mixer drops into any block. Parameter names follow the official implementations where that keeps checkpoint
conversion a pure renaming.
"""

from vmix._lazy import lazy_exports

_EXPORTS = {
    "SS2D": ".ss2d",
    "NCSSD": ".nc_ssd",
    "SSD": ".nc_ssd",
    "BiSSD": ".nc_ssd",
    "GatedDWConv": ".gated_dwconv",
    "Attention": ".attention",
    "ConvPosEnc": ".cpe",
    "Mlp": ".mlp",
    "DropPath": ".drop_path",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
