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


def _no_double_stop(value: str, following: str) -> str:
    """A value that ends a sentence itself ("123 Main St.") before the template's own full
    stop loses its own, so residents never read "St.."."""
    return value[:-1] if following == "." and value.endswith(".") else value


def render(text: str, lookup: Callable[[str], str | None]) -> str:
    """Replace each ``{{ name }}`` with ``lookup(name)`` (None -> empty)."""
    if "{{" not in text:
        return text
    return PLACEHOLDER.sub(
        lambda m: _no_double_stop(lookup(m.group(1)) or "", text[m.end():m.end() + 1]), text)


_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(template: str, values: Mapping[str, str]) -> str:
    """``str.format`` for fixed texts with ``{name}`` fields, with the same full-stop rule as
    ``render``."""
    return _FIELD.sub(
        lambda m: _no_double_stop(values[m.group(1)], template[m.end():m.end() + 1]), template)


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
        value = source.get(f"{key}_{language}") if root == "context" else None
        if value is None:  # a context value may come per language: session_when_es
            value = source.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return lookup
