"""Lazy re-exports for package ``__init__`` files (PEP 562).

``import vmix`` stays cheap and free of optional dependencies: a public name is imported from its module the first
time it is used, so ``vmix.testing`` (hypothesis) or the training pieces load only when asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package`` resolving ``name -> module`` from ``exports`` on demand.

    A module path starting with ``.`` is relative to ``package``; a name mapped to the empty string is a subpackage.
    """

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = exports[name]
        if target == "":
            return importlib.import_module(f"{package}.{name}")
        module = importlib.import_module(target if not target.startswith(".") else package + target)
        return getattr(module, name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
