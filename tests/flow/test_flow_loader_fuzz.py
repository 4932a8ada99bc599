"""Malformed flows get problems, never a traceback: random damage to a real flow."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from flow_helpers import FLOWS_DIR
from hypothesis import given, settings
from hypothesis import strategies as st

from engage.flow.loader import check_flow_text

BASE = yaml.safe_load((FLOWS_DIR / "satisfaction.yaml").read_text(encoding="utf-8"))
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 30) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += paths(value, (*prefix, index))
    return out


ALL_PATHS = paths(BASE)[1:]


def damage(data: Any, path: tuple[Any, ...], junk: Any, delete: bool) -> Any:
    data = copy.deepcopy(data)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = junk
    return data


@settings(max_examples=150, deadline=None)
@given(
    edits=st.lists(st.tuples(st.sampled_from(ALL_PATHS), JUNK, st.booleans()), min_size=1,
                   max_size=3),
)
def test_damaged_flows_report_problems_without_raising(
    edits: list[tuple[tuple[Any, ...], Any, bool]],
) -> None:
    data = BASE
    for path, junk, delete in edits:
        try:
            data = damage(data, path, junk, delete)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed this path
    text = yaml.safe_dump(data, allow_unicode=True)
    flow, problems = check_flow_text(text, "x.yaml", areas_dir=FLOWS_DIR / "areas")
    assert flow is not None or any(p.severity == "error" for p in problems)
    for problem in problems:
        assert str(problem).startswith("x.yaml: ")


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_is_handled(text: str) -> None:
    flow, problems = check_flow_text(text, "x.yaml")
    assert flow is None and problems
