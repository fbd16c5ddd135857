"""Griffe extension used by the docs build: read vmix's docstrings the way their authors wrote them.

- ``Example:`` (singular) heads vmix's doctests. Griffe's Google parser knows only ``Examples:`` and would render the
  singular form as an admonition of plain text, turning ``>>>`` lines into nested quotes; the header is renamed
  before parsing, so the examples render as highlighted code, exactly as doctest reads them.
- Sphinx roles (``:func:`~vmix.ops.ssd```, ``:class:`SSDMixer```) would render literally in Markdown. They become
  optional cross-references: a link where the target is documented on the site, inline code where it is not, and
  never a build failure.
"""

from __future__ import annotations

import functools
import html
import importlib
import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:\s*$", re.M)
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc|const):`(?P<tilde>~?)(?P<target>[\w.]+)`")


@functools.cache
def _canonical(identifier: str) -> str:
    """Where a public name is defined (``vmix.models.Backbone`` -> ``vmix.models.backbone.Backbone``): the page
    documents it there. Names that do not import are returned as they are."""
    module_path, _, name = identifier.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_path), name)
    except Exception:  # a module needing an extra that is not installed, or a name that is not there
        try:
            return importlib.import_module(identifier).__name__
        except ImportError:
            return identifier
    defined_in = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(defined_in, str) and defined_in.startswith("vmix") and qualname and "<" not in qualname:
        return f"{defined_in}.{qualname}"
    return identifier


def _role_to_autoref(match: re.Match, module: str) -> str:
    target = match.group("target")
    shown = target.rsplit(".", 1)[-1] if match.group("tilde") else target
    identifier = target if "." in target else f"{module}.{target}"  # a bare name lives in the docstring's module
    identifier = _canonical(identifier)
    return f'<autoref identifier="{html.escape(identifier)}" optional><code>{html.escape(shown)}</code></autoref>'


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section headers to ``Examples:`` and turn Sphinx roles into cross-references."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
        obj.docstring.value = _ROLE.sub(lambda m: _role_to_autoref(m, obj.module.path), value)
