"""Hooks that let a FLOP counter see the token-mixer operators as single operations.

The papers count a selective scan or an attention by a formula of its shapes, not by the elementwise work of
whichever form computes it. Each public operator is wrapped with :func:`counted`; when a counter is active (see
``vmix.analysis.count_flops``) the call is handed to it with its name and arguments, so it can add the formula and
ignore the operator's inner tensor ops. With no counter active, and always under ``torch.compile``, the wrapper
calls the operator directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol, TypeVar

import torch

F = TypeVar("F", bound=Callable)


class OpCounter(Protocol):
    """What a counter implements to receive operator calls."""

    def op(self, name: str, fn: Callable, args: tuple, kwargs: dict):
        """Run ``fn(*args, **kwargs)`` for operator ``name`` and account for it; return its result."""


_active: list[OpCounter] = []


def push_counter(counter: OpCounter) -> None:
    """Make ``counter`` receive operator calls until :func:`pop_counter`."""
    _active.append(counter)


def pop_counter() -> None:
    """Stop the innermost active counter."""
    _active.pop()


def counted(name: str) -> Callable[[F], F]:
    """Mark a public operator so an active FLOP counter accounts for it as one operation called ``name``."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if _active and not torch.compiler.is_compiling():
                return _active[-1].op(name, fn, args, kwargs)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
