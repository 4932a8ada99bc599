"""Reading flow and gazetteer YAML strictly, with problems that carry a place.

YAML 1.1 would read ``yes``/``no``/``on``/``off`` as booleans (an option ``value: no`` would
become ``False``); here only true/false are booleans. A key given twice in one mapping is
reported with its line and column instead of silently keeping the last one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow file; renders as ``FILE: location: message``."""

    file: str
    location: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}: {self.location}: {prefix}{self.message}"




class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that keeps yes/no/on/off as strings and records duplicate keys."""

    duplicates: list[tuple[str, int, int]]


_BOOL_TAG = "tag:yaml.org,2002:bool"
_StrictLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            continue
        if key in seen:
            mark = key_node.start_mark
            loader.duplicates.append((str(key), mark.line + 1, mark.column + 1))
        seen.add(key)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=True))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(text: str, source: str) -> tuple[Any, list[Problem]]:
    """Parse YAML; syntax errors and duplicate keys become problems with line and column."""
    try:
        loader = _StrictLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return None, [Problem(source, f"line {line}, column {column}",
                              f"invalid YAML: character #x{exc.character:04x} is not allowed")]
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        reason = exc.problem or exc.context or "invalid YAML"
        return None, [Problem(source, where, f"invalid YAML: {reason}")]
    except yaml.YAMLError as exc:
        return None, [Problem(source, "(yaml)", f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    problems = [
        Problem(source, f"line {line}, column {col}", f"duplicate key {key!r}")
        for key, line, col in loader.duplicates
    ]
    return data, problems
