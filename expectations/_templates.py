"""Great Expectations' Data Docs templates, compiled once per process instead of once per page.

Every GX view (``DefaultJinjaView`` and its subclasses) makes a Jinja environment of its own, and
a Data Docs build makes a view per page and section, so each build compiled the same ~40
templates again: 13 % of a sync run's CPU, measured with py-spy on the warm-start server's runs.

:func:`share_compiled_templates` gives every GX view one Jinja bytecode cache
(:class:`jinja2.BytecodeCache`, Jinja's own mechanism for exactly this): a template is compiled
the first time any view needs it and read back from memory after that, checked against its
source (a changed template is compiled again). The views' environments all have GX's one
configuration, so the compiled code is the same for each of them. :func:`precompile` fills the
cache up front: the warm-start server does it before it forks, so no run compiles a template.
"""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import BytecodeCache, TemplateError
from jinja2.bccache import Bucket

from expectations._gx import load_gx


class CompiledTemplates(BytecodeCache):
    """Compiled templates in memory, keyed by template (Jinja checks each against its source)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()

    def __len__(self) -> int:
        return len(self._code)


SHARED = CompiledTemplates()


def share_compiled_templates() -> None:
    """Give every GX view made from now on :data:`SHARED` as its bytecode cache (idempotent)."""
    load_gx()
    from great_expectations.render.view.view import DefaultJinjaView

    original = DefaultJinjaView.__init__
    if getattr(original, "_shares_compiled_templates", False):
        return

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.env.bytecode_cache = SHARED

    __init__._shares_compiled_templates = True  # type: ignore[attr-defined]
    DefaultJinjaView.__init__ = __init__  # type: ignore[method-assign]


def precompile() -> int:
    """Compile every template GX's views can load into :data:`SHARED`; returns how many."""
    share_compiled_templates()
    from great_expectations.render.view.view import DefaultJinjaView

    env = DefaultJinjaView().env
    for name in env.list_templates():
        try:
            env.get_template(name)
        except TemplateError:  # a stylesheet that is not a template: GX never loads it as one
            continue
    return len(SHARED)
