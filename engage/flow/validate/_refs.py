"""References from one node to another (``next``, ``on_fail``, ``on_decline``...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engage.flow.validate._context import FlowContext, closest


def check_ref(ctx: FlowContext, loc: str, target: Any, ids: Mapping[str, int]) -> str | None:
    if not isinstance(target, str):
        ctx.error(loc, "expected a node id")
        return None
    if target not in ids:
        hint = closest(target, set(ids))
        suffix = f" (did you mean {hint!r}?)" if hint else ""
        ctx.error(loc, f"no node with id {target!r}{suffix}")
        return None
    return target
