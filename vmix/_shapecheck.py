"""Runtime shape checking of the package's annotated functions.

Public functions and ``forward`` methods carry jaxtyping annotations (``Float[Tensor, "b l d"]``). ``shapecheck``
turns them into checks (jaxtyping + beartype) when checking is enabled, and steps aside inside ``torch.compile``:
Dynamo cannot trace the checker, and a compiled hot path should not pay for it anyway.

Checking is enabled by ``VMIX_SHAPECHECK=1`` in the environment or by :func:`set_shapecheck` (the test suite turns it
on). A failed check raises ``jaxtyping.TypeCheckError`` naming the offending argument, every argument's shape and the
sizes bound to each named axis so far.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TypeVar

import torch
from beartype import beartype
from jaxtyping import jaxtyped

F = TypeVar("F", bound=Callable)

_enabled = os.environ.get("VMIX_SHAPECHECK", "0") == "1"


def set_shapecheck(enabled: bool) -> None:
    """Turn runtime shape checking of vmix's annotated functions on or off (process-wide)."""
    global _enabled
    _enabled = bool(enabled)


def shapecheck_enabled() -> bool:
    """Whether runtime shape checking is on."""
    return _enabled


def shapecheck(fn: F) -> F:
    """Check ``fn``'s jaxtyping annotations at call time when checking is enabled, except under ``torch.compile``.

    Example:
        >>> from jaxtyping import Float
        >>> from torch import Tensor
        >>> @shapecheck
        ... def double(x: Float[Tensor, "b l"]) -> Float[Tensor, "b l"]:
        ...     return 2 * x
        >>> double(torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """
    checked = jaxtyped(typechecker=beartype)(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _enabled and not torch.compiler.is_compiling():
            return checked(*args, **kwargs)
        return fn(*args, **kwargs)

    # Dynamo keeps its compiled graphs on the code object, with a limit of 8 per code object: were every wrapper to
    # share this one, compiling nine different checked functions in one process would hit the limit (and fail under
    # fullgraph=True). A copy per function gives each its own cache, and tracebacks its name.
    wrapper.__code__ = wrapper.__code__.replace(co_name=fn.__name__, co_qualname=fn.__qualname__)
    return wrapper  # type: ignore[return-value]
