"""What every repository module shares: the tables, the constants, statement helpers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, func, literal_column
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel

from engage.storage.sql import Tx
from engage.storage.tables import ConsentEntry, Message, Outbox, Participant, Run

HELD_KINDS = frozenset({"campaign", "reminder", "invitation"})
OUTBOX_KINDS = frozenset({"reply", "confirmation", "campaign", "reminder", "invitation", "system"})
CONSENT_SCOPES = ("surveys", "dialogue", "quotes")
CONSENT_STATUSES = frozenset(
    {"granted", "declined", "withdrawn", "opted_out", "opted_in", "erased"})
ACTIVE_RUN = "waiting"

_PARTICIPANTS = Participant.__table__  # type: ignore[attr-defined]
_RUNS = Run.__table__  # type: ignore[attr-defined]
_MESSAGES = Message.__table__  # type: ignore[attr-defined]
_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_CONSENTS = ConsentEntry.__table__  # type: ignore[attr-defined]


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("naive datetime rejected: use aware UTC datetimes")


def insert_for(dialect_name: str, table: Any) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` that supports ``on_conflict_do_nothing`` on both supported backends."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect_name!r}")


def dialect_insert(session: Session, model: Any) -> postgresql.Insert | sqlite.Insert:
    return insert_for(session.get_bind().dialect.name, model)


def _values(table: Any, *, skip: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    return {c.name: bindparam(c.name) for c in table.columns if c.name not in skip}


def _locked(dialect_name: str, stmt: Any) -> Any:
    return stmt.with_for_update() if dialect_name == "postgresql" else stmt


def _set(obj: object, name: str, value: object) -> None:
    """Keep an object in step with a row just written: no unit-of-work flush follows."""
    if isinstance(obj, SQLModel):  # an ORM instance: a committed value, not a change
        set_committed_value(obj, name, value)
    else:
        setattr(obj, name, value)


def in_list(dialect_name: str, column: Any, name: str, item_type: Any = String) -> Any:
    """``column IN <one list parameter>``: ``= ANY(array)`` on PostgreSQL, ``json_each`` of a
    JSON array on SQLite (an expanding IN list cannot be prepared once). Bind the list with
    ``list_param``."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(item_type)))
    return column.in_(sa_select(literal_column("value")).select_from(
        func.json_each(bindparam(name))))


def list_param(tx: Tx, values: Sequence[Any]) -> Any:
    return list(values) if tx.is_pg else json.dumps(list(values))
