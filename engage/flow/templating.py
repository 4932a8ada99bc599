"""``{{ results.area }}``, ``{{ context.session_title }}``, ``{{ language }}``: safe substitution.

Only dotted names are allowed inside the braces; there are no expressions, filters or code.
A name with no value renders as an empty string (the loader rejects names that can never
have one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}\}")
ANY_BRACES = re.compile(r"\{\{(.*?)\}\}")


def placeholders(text: str) -> list[str]:
    """Names used in ``text``; anything in braces that is not a plain name is returned raw."""
    return [m.group(1).strip() for m in ANY_BRACES.finditer(text)]


def render(text: str, lookup: Callable[[str], str | None]) -> str:
    """Replace each ``{{ name }}`` with ``lookup(name)`` (None -> empty)."""
    if "{{" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: lookup(m.group(1)) or "", text)


def lookup_in(
    results: Mapping[str, object], context: Mapping[str, object], language: str
) -> Callable[[str], str | None]:
    """A lookup over a run's results, context and language."""

    def lookup(name: str) -> str | None:
        if name == "language":
            return language
        root, _, key = name.partition(".")
        source = results if root == "results" else context if root == "context" else None
        if source is None:
            return None
        value = source.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return lookup
