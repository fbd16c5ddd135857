"""vmix: vision token mixers and the backbones built from them.

One macro architecture with a pluggable token mixer (SS2D, NC-SSD, gated depthwise convolution, attention), every
mixer fast under ``torch.compile`` with no CUDA build step, and every fast path checked against a slow reference.

Example:
    >>> import torch, vmix
    >>> mixer = vmix.NCSSD(dim=32, heads=2, d_state=16)
    >>> mixer(torch.randn(2, 7, 9, 32)).shape
    torch.Size([2, 7, 9, 32])
"""

from vmix._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    # token mixers and building blocks
    "SS2D": ".layers",
    "NCSSD": ".layers",
    "SSD": ".layers",
    "BiSSD": ".layers",
    "GatedDWConv": ".layers",
    "Attention": ".layers",
    # models
    "create_model": ".models",
    "list_models": ".models",
    "register_model": ".models",
    "register_mixer": ".models",
    "load_official": ".models",
    # subpackages
    "ops": "",
    "layers": "",
    "models": "",
    "analysis": "",
    "testing": "",
    "data": "",
    "train": "",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
