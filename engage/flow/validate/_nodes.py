"""Nodes: say, ask or end, where each goes next, and its branches' conditions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engage.flow import conditions
from engage.flow.model import NODE_KINDS, OUTCOMES
from engage.flow.validate._context import ID, FlowContext
from engage.flow.validate._names import check_name
from engage.flow.validate._questions import check_ask
from engage.flow.validate._refs import check_ref
from engage.flow.validate._texts import check_text

NODE_KEYS = {"id", "say", "ask", "end", "next", "branches", "note"}
BRANCH_KEYS = {"next", "value", "category", "when"}


def check_node(
    ctx: FlowContext, loc: str, raw: Any, ids: Mapping[str, int], scope: str,
    defaults: Mapping[str, Any],
) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        ctx.error(loc, "expected a mapping with id and one of say, ask or end")
        return None
    ctx.unknown_keys(loc, raw, NODE_KEYS)
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not ID.match(node_id):
        ctx.error(f"{loc}.id", "expected a lower-case id (a-z, 0-9, _ or -)")
        return None
    out: dict[str, Any] = {"id": node_id}
    kinds = [k for k in ("ask", "end") if raw.get(k) is not None]
    if len(kinds) > 1:
        ctx.error(loc, "a node has either ask or end, not both")
    kind = kinds[0] if kinds else ("say" if raw.get("say") is not None else None)
    if kind is None:
        ctx.error(loc, f"a node needs one of {', '.join(NODE_KINDS)}")
        return None
    if raw.get("say") is not None:
        if kind == "ask":
            ctx.error(f"{loc}.say", "put the question text in ask.text (say is for messages)")
        else:
            out["say"] = check_text(ctx, f"{loc}.say", raw["say"])
    if kind == "end":
        if raw["end"] not in OUTCOMES:
            ctx.error(f"{loc}.end", f"unknown outcome {raw['end']!r} (expected one of "
                                    f"{', '.join(OUTCOMES)})")
        out["end"] = raw["end"]
        for key in ("next", "branches"):
            if key in raw:
                ctx.error(f"{loc}.{key}", "an end node has no next step")
        return out
    if kind == "ask":
        out["ask"] = check_ask(ctx, f"{loc}.ask", raw["ask"], ids, scope, defaults)
    if "next" not in raw:
        ctx.error(loc, "missing next (every say/ask node needs one; use an end node to stop)")
    else:
        out["next"] = check_ref(ctx, f"{loc}.next", raw["next"], ids)
    branches = raw.get("branches", [])
    if not isinstance(branches, list):
        ctx.error(f"{loc}.branches", "expected a list")
        branches = []
    out["branches"] = [
        b for b in (_branch(ctx, f"{loc}.branches[{j}]", b, ids)
                    for j, b in enumerate(branches)) if b is not None
    ]
    return out


def _branch(ctx: FlowContext, loc: str, raw: Any, ids: Mapping[str, int]) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        ctx.error(loc, "expected a mapping with next and one of value, category or when")
        return None
    ctx.unknown_keys(loc, raw, BRANCH_KEYS)
    tests = [k for k in ("value", "category", "when") if k in raw]
    if len(tests) != 1:
        ctx.error(loc, "a branch needs exactly one of value, category or when")
        return None
    target = check_ref(ctx, f"{loc}.next", raw.get("next"), ids)
    out: dict[str, Any] = {"next": target, "value": None, "category": None, "when": None}
    key = tests[0]
    value = raw[key]
    if key == "when":
        if not isinstance(value, str):
            ctx.error(f"{loc}.when", "expected a condition like 'likert <= 2'")
            return None
        try:
            tree = conditions.parse_condition(value)
        except conditions.ConditionError as exc:
            ctx.error(f"{loc}.when", f"cannot parse condition {value!r}: {exc}")
            return None
        for name in conditions.refs(tree):
            check_name(ctx, f"{loc}.when", name, condition=True)
    elif isinstance(value, bool) or value is None:
        ctx.error(f"{loc}.{key}", "expected a value")
        return None
    out[key] = str(value) if key != "when" else value
    return out if target is not None else None
