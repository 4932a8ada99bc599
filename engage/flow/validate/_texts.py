"""Texts and their translations: one per flow language, each remembered for the later checks
of placeholders and SMS length."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engage.flow.validate._context import FlowContext


def check_text(
    ctx: FlowContext, loc: str, value: Any, *, allow_plain: bool = False
) -> dict[str, str] | None:
    """The text per language, or None (reported) when ``value`` is not a text at all."""
    if isinstance(value, str) and allow_plain:
        out = dict.fromkeys(ctx.languages, value)
    elif isinstance(value, Mapping):
        out = {}
        for lang, text in value.items():
            if lang not in ctx.languages:
                ctx.error(f"{loc}.{lang}", f"language {lang!r} is not in languages")
            elif not isinstance(text, str) or not text.strip():
                ctx.error(f"{loc}.{lang}", "expected non-empty text")
            else:
                out[str(lang)] = text.strip()
        missing = [lang for lang in ctx.languages if lang not in value]
        if missing:
            ctx.error(loc, "missing translation for " + ", ".join(missing))
    else:
        expected = "a text or " if allow_plain else ""
        ctx.error(loc, f"expected {expected}a mapping of language -> text "
                       f"({', '.join(ctx.languages)})")
        return None
    for lang, text in out.items():
        ctx.texts.append((f"{loc}.{lang}" if not allow_plain else loc, lang, text))
    return out
