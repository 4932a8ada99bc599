"""Small pieces every route module shares: the engine and settings of the app, transactions
that turn engage's errors into problems, pagination, and content negotiation."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session

from engage.config import Settings
from engage.errors import UserError
from engage.storage.db import new_session, read_only, session_scope
from engage.web.api.problems import ApiProblem, FieldProblem

T = TypeVar("T")
ItemT = TypeVar("ItemT")
# printable text only: control characters (NUL included) are refused before any database
TEXT = r"^[^\x00-\x1f\x7f]*$"
ID_MAX = 2**31 - 1

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]
Offset = Annotated[int, Query(ge=0, le=ID_MAX, description="Items to skip")]


class Page(BaseModel, Generic[ItemT]):
    """One page of a list: ``items``, the ``total`` across pages, and where this page sits."""

    items: list[ItemT]
    total: int = Field(description="Items across all pages")
    limit: int
    offset: int


def page(items: Sequence[T], limit: int, offset: int) -> dict[str, Any]:
    return {"items": list(items[offset:offset + limit]), "total": len(items), "limit": limit,
            "offset": offset}


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def read(request: Request, action: Callable[[Session], T]) -> T:
    """Run ``action`` in a read-only session (SQLite: no write lock held)."""
    with new_session(read_only(engine_of(request))) as session:
        return action(session)


def write(request: Request, action: Callable[[Session], T], *, conflict: bool = False) -> T:
    """Run ``action`` in one transaction. ``UserError`` becomes 409 (``conflict``: a state
    change the resource's state forbids) or 422 (bad input), with engage's own message."""
    try:
        with session_scope(engine_of(request)) as session:
            return action(session)
    except UserError as exc:
        if conflict:
            raise ApiProblem(409, str(exc), kind="conflict") from None
        raise ApiProblem(422, str(exc), kind="invalid-request") from None


def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not take: a typo (``?perod=2026Q3``) must
    not silently fall back to the default and return other data than the caller meant."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known: set[str] = set()
    pending = [dependant]
    while pending:  # the route's own parameters and its dependencies'
        current = pending.pop()
        known.update(p.alias for p in current.query_params)
        pending.extend(current.dependencies)
    unknown = sorted(k for k in request.query_params if k not in known)
    if unknown:
        name = unknown[0]
        shown = name if len(name) <= 40 and re.fullmatch(TEXT, name) else "(unprintable)"
        allowed = ", ".join(sorted(known)) or "none"
        raise ApiProblem(422, f"query.{shown}: unknown query parameter (this route takes: "
                         f"{allowed})", kind="invalid-parameters", errors=[FieldProblem(
                             field=f"query.{shown}", message="unknown query parameter")])


def wants(request: Request, media_type: str) -> bool:
    """Whether the Accept header prefers ``media_type`` over JSON (q-values honoured)."""
    best: dict[str, float] = {}
    for part in request.headers.get("accept", "").split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        q = 1.0
        for f in fields[1:]:
            match = re.fullmatch(r"q=([0-9.]+)", f)
            if match:
                try:
                    q = float(match.group(1))
                except ValueError:
                    q = 0.0
        best[fields[0].lower()] = max(q, best.get(fields[0].lower(), 0.0))
    wanted = best.get(media_type, 0.0)
    return wanted > 0 and wanted > max(best.get("application/json", 0.0),
                                       best.get("application/*", 0.0))


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
