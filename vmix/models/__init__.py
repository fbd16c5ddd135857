"""The macro architecture, the block kinds, named configs, the registry and the official-checkpoint converters.

Example:
    >>> import torch, vmix
    >>> model = vmix.create_model("vssd_micro", num_classes=10)
    >>> model(torch.randn(1, 3, 64, 64)).shape
    torch.Size([1, 10])
"""

from vmix._lazy import lazy_exports

_EXPORTS = {
    "create_model": "._registry",
    "list_models": "._registry",
    "register_model": "._registry",
    "get_config": "._registry",
    "load_official": ".convert",
    "Backbone": ".backbone",
    "hybridize": ".configs",
    "register_mixer": ".configs",
    "BlockConfig": ".configs",
    "StageConfig": ".configs",
    "ModelConfig": ".configs",
    "configs": "",
    "blocks": "",
    "backbone": "",
    "convert": "",
    "families": "",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
