"""What the checkers of one flow share: where problems go, and what the flow has declared.

Each checker module does one job and reports through ``FlowContext``; problems keep the order
in which the walk meets them, so the context is passed down rather than results merged later.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engage.flow.yamlread import Problem

ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass
class FlowContext:
    """The problems found so far and the names later checks refer back to."""

    source: str
    areas_dir: Path | None
    problems: list[Problem] = field(default_factory=list)
    languages: list[str] = field(default_factory=lambda: ["en"])
    gazetteers: dict[str, Any] = field(default_factory=dict)
    result_names: set[str] = field(default_factory=set)
    texts: list[tuple[str, str, str]] = field(default_factory=list)  # (location, language, text)

    def error(self, location: str, message: str) -> None:
        self.problems.append(Problem(self.source, location, message))

    def warn(self, location: str, message: str) -> None:
        self.problems.append(Problem(self.source, location, message, "warning"))

    def unknown_keys(self, loc: str, data: Mapping[str, Any], allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                hint = closest(str(key), allowed)
                suffix = f" (did you mean {hint!r}?)" if hint else ""
                self.error(f"{loc}.{key}" if loc else str(key), f"unknown field{suffix}")


def closest(word: str, options: Iterable[str]) -> str | None:
    """The near-miss spelling to suggest, if one is close enough."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.75)
    return close[0] if close else None
