"""The flow as a whole: its header fields, node ids, start, and the checks that need every
node (graph, placeholders, SMS length), in the order their problems are reported."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engage.flow.validate._context import ID, FlowContext
from engage.flow.validate._durations import parse_duration
from engage.flow.validate._graph import check_graph
from engage.flow.validate._names import check_placeholders
from engage.flow.validate._nodes import check_node
from engage.flow.validate._sms_length import check_sms_length

FLOW_KEYS = {"id", "version", "title", "description", "languages", "default_language",
             "expire_after", "start", "defaults", "scope", "nodes"}
DEFAULT_KEYS = {"max_tries", "on_fail"}


@dataclass(frozen=True)
class _Header:
    flow_id: str
    version: str
    title: str
    default_language: str
    expire_after: int | None
    scope: str
    defaults: Mapping[str, Any]


def check_flow(ctx: FlowContext, raw: Any) -> dict[str, Any] | None:
    """The canonical dict ``model.build_flow`` takes, or None when there is nothing to build."""
    if not isinstance(raw, Mapping):
        ctx.error("(root)", "expected a mapping with id, version, languages and nodes")
        return None
    header = _check_header(ctx, raw)
    nodes_raw = raw.get("nodes")
    if not isinstance(nodes_raw, list) or not nodes_raw:
        ctx.error("nodes", "expected a non-empty list of nodes")
        return None
    ids = _node_ids(ctx, nodes_raw)
    ctx.result_names.update(_result_names(nodes_raw))  # templates may refer to later results
    nodes = [check_node(ctx, f"nodes[{i}]", n, ids, header.scope, header.defaults)
             for i, n in enumerate(nodes_raw)]
    start = raw.get("start", nodes_raw[0].get("id") if isinstance(nodes_raw[0], Mapping)
                    else None)
    if not isinstance(start, str) or start not in ids:
        ctx.error("start", f"unknown node {start!r}")
        start = next(iter(ids), "")
    canonical_nodes = [n for n in nodes if n is not None]
    if not any(n.get("end") for n in canonical_nodes):
        ctx.error("nodes", "the flow has no end node (add a node with end: completed)")
    check_graph(ctx, str(start), canonical_nodes, ids)
    check_placeholders(ctx)
    check_sms_length(ctx)
    return {
        "id": header.flow_id,
        "version": header.version,
        "title": header.title,
        "languages": ctx.languages,
        "default_language": header.default_language,
        "expire_after": header.expire_after,
        "start": start,
        "nodes": canonical_nodes,
        "gazetteers": ctx.gazetteers,
    }


def _check_header(ctx: FlowContext, raw: Mapping[str, Any]) -> _Header:
    """Everything above ``nodes``; sets the flow's languages on ``ctx`` for the texts below."""
    ctx.unknown_keys("", raw, FLOW_KEYS)
    flow_id = raw.get("id")
    if not isinstance(flow_id, str) or not ID.match(flow_id):
        ctx.error("id", "expected a lower-case id like 'satisfaction' (a-z, 0-9, _ or -)")
        flow_id = "invalid"
    version = raw.get("version")
    if isinstance(version, bool) or not isinstance(version, int | str) or version == "":
        ctx.error("version", "expected a version number or string")
        version = "0"
    langs = raw.get("languages", ["en"])
    if (not isinstance(langs, list) or not langs
            or not all(isinstance(x, str) and re.fullmatch(r"[a-z]{2}", x) for x in langs)):
        ctx.error("languages", "expected a list of two-letter language codes like [en, es]")
        langs = ["en"]
    if len(set(langs)) != len(langs):
        ctx.error("languages", "duplicate language")
    ctx.languages = list(dict.fromkeys(langs))
    default_language = raw.get("default_language", ctx.languages[0])
    if default_language not in ctx.languages:
        ctx.error("default_language", f"{default_language!r} is not in languages")
        default_language = ctx.languages[0]
    expire_after = None
    if raw.get("expire_after") is not None:
        expire_after = parse_duration(raw["expire_after"])
        if expire_after is None:
            ctx.error("expire_after", "expected a duration like 30m, 24h or 7d")
    else:
        ctx.warn("expire_after", "not set: an unanswered run waits forever (add e.g. 7d)")
    scope = raw.get("scope", "surveys")
    if not isinstance(scope, str) or not ID.match(scope):
        ctx.error("scope", "expected a consent scope name like surveys or dialogue")
        scope = "surveys"
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        ctx.error("defaults", "expected a mapping (max_tries, on_fail)")
        defaults = {}
    ctx.unknown_keys("defaults", defaults, DEFAULT_KEYS)
    title = raw.get("title", flow_id)
    return _Header(flow_id, str(version), str(title), default_language, expire_after, scope,
                   defaults)


def _node_ids(ctx: FlowContext, nodes_raw: list[Any]) -> dict[str, int]:
    """Each node id and the index of its first node; later duplicates are reported."""
    ids: dict[str, int] = {}
    for i, node in enumerate(nodes_raw):
        if isinstance(node, Mapping) and isinstance(node.get("id"), str):
            if node["id"] in ids:
                first = ids[node["id"]]
                ctx.error(f"nodes[{i}].id", f"duplicate id {node['id']!r} (first: nodes[{first}])")
            else:
                ids[node["id"]] = i
    return ids


def _result_names(nodes_raw: list[Any]) -> set[str]:
    names: set[str] = set()
    for node in nodes_raw:
        if isinstance(node, Mapping) and isinstance(node.get("ask"), Mapping):
            ask = node["ask"]
            result = ask.get("result", "language" if ask.get("type") == "language" else None)
            if isinstance(result, str):
                names.add(result)
    return names
