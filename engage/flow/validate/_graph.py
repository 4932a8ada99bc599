"""The flow as a graph: every node reachable from start, ``on_decline`` ends the run, and no
loop of say nodes that would message a resident forever without waiting for a reply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engage.flow.validate._context import FlowContext


def check_graph(
    ctx: FlowContext, start: str, nodes: list[dict[str, Any]], ids: Mapping[str, int]
) -> None:
    edges = _edges(ctx, nodes, ids)
    seen = {start}
    todo = [start]
    while todo:
        for target in edges.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for n in nodes:
        if n["id"] not in seen:
            ctx.error(f"nodes[{ids[n['id']]}]",
                      f"node {n['id']!r} is unreachable from start {start!r}")
    _check_say_loops(ctx, nodes, ids, edges)


def _edges(
    ctx: FlowContext, nodes: list[dict[str, Any]], ids: Mapping[str, int]
) -> dict[str, list[str]]:
    """Each node's successors; reports an ``on_decline`` that does not lead to an end."""
    by_id = {n["id"]: n for n in nodes}
    edges: dict[str, list[str]] = {}
    for n in nodes:
        targets = [n.get("next")] + [b["next"] for b in n.get("branches", [])]
        ask = n.get("ask") or {}
        timeout = ask.get("timeout") or {}
        targets += [timeout.get("next"), ask.get("on_decline")]
        if ask.get("on_fail") not in (None, "skip", "end"):
            targets.append(ask["on_fail"])
        edges[n["id"]] = [t for t in targets if isinstance(t, str) and t in by_id]
        if ask.get("on_decline") and by_id.get(ask["on_decline"], {}).get("end") is None:
            ctx.error(f"nodes[{ids[n['id']]}].ask.on_decline",
                      "on_decline must lead to an end node")
    return edges


def _check_say_loops(
    ctx: FlowContext, nodes: list[dict[str, Any]], ids: Mapping[str, int],
    edges: Mapping[str, list[str]],
) -> None:
    says = {n["id"] for n in nodes if "ask" not in n and "end" not in n}
    for origin in says:
        stack, visited = [origin], set()
        while stack:
            current = stack.pop()
            for target in edges.get(current, []):
                if target == origin:
                    ctx.error(f"nodes[{ids[origin]}]",
                              "say nodes loop back here without asking anything")
                    stack = []
                    break
                if target in says and target not in visited:
                    visited.add(target)
                    stack.append(target)
