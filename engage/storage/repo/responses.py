"""Responses: one row per answered question of a run."""

from __future__ import annotations

from typing import Any

from engage.storage.repo._common import (
    _values,
    insert_for,
)
from engage.storage.sql import Statement, Tx
from engage.storage.tables import Response

_RESPONSES = Response.__table__  # type: ignore[attr-defined]


def _response_upsert(dialect_name: str) -> Any:
    stmt = insert_for(dialect_name, _RESPONSES).values(_values(_RESPONSES))
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "name"],
        set_={c.name: stmt.excluded[c.name] for c in _RESPONSES.columns
              if c.name not in ("id", "run_id", "name")})


_UPSERT_RESPONSE = Statement(_response_upsert)


def upsert_response(*, tx: Tx, values: dict[str, Any]) -> None:
    """Store one answer: a re-answered question (run, name) replaces the earlier answer.
    Deferred in a batch (``Tx.defer``): answers only ever go to runs that already exist."""
    tx.defer(_UPSERT_RESPONSE, values)
