"""Griffe extension used by the docs build: read vmix's ``Example:`` docstring sections as Google-style examples.

vmix's docstrings head their doctests ``Example:`` (singular). Griffe's Google parser knows only ``Examples:`` and
would render the singular form as an admonition of plain text, turning ``>>>`` lines into nested quotes; renaming the
header before parsing makes them highlighted code, exactly as doctest reads them.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:\s*$", re.M)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section headers to ``Examples:`` in every docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
