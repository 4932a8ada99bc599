"""Table lifecycle: finished outbox rows and message rows are deleted after retention.

Why deleting is safe: published figures come from responses and runs (never from messages or
the outbox); the audit log and the consent ledger are never touched; inbound dedupe needs a
message's provider id only while the provider may still retry it (minutes, not months); a
campaign or dialogue session decides whom to message from its recipients, not from old outbox
rows. What goes: outbox rows that are finished (sent, failed, cancelled) and message rows,
both older than ``ENGAGE_RETENTION_DAYS`` (the bodies were already blanked at that age).

Deletes run in small batches, each its own short transaction, oldest ids first, with a pause
between batches: they lock only old rows nobody else touches and never hold a transaction open
across the table, so webhooks and workers go on (the hot path reads recent rows by index).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

FINISHED = ("sent", "failed", "cancelled")
BATCH_ROWS = 5_000
PAUSE_SECONDS = 0.05
TABLES = ("outbox", "message")


@dataclass(frozen=True)
class TableSize:
    name: str
    rows: int
    bytes: int | None  # PostgreSQL: table + indexes + TOAST; SQLite: None (one file)
    due: int  # rows the next purge would delete


def _due_clause(table: str) -> str:
    if table == "outbox":
        return "status IN ('sent', 'failed', 'cancelled') AND created_at < :cutoff"
    return "created_at < :cutoff"


def purge_old_rows(engine: Engine, *, now: datetime, days: float, batch: int = BATCH_ROWS,
                   pause: float = PAUSE_SECONDS, max_batches: int | None = None
                   ) -> dict[str, int]:
    """Delete what is past retention from each lifecycle table, batch by batch; returns the
    rows deleted per table. ``max_batches`` bounds one call (the next tick goes on)."""
    if now.tzinfo is None:
        raise ValueError("naive datetime rejected")
    cutoff = now - timedelta(days=days)
    deleted: dict[str, int] = {}
    for table in TABLES:
        statement = sa.text(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
            f"WHERE {_due_clause(table)} ORDER BY id LIMIT :batch)")
        total, rounds = 0, 0
        while max_batches is None or rounds < max_batches:
            with engine.begin() as conn:
                count = conn.execute(statement, {"cutoff": cutoff, "batch": batch}).rowcount
            total += int(count or 0)
            rounds += 1
            if not count or count < batch:
                break
            time.sleep(pause)  # let the hot path's transactions through
        deleted[table] = total
    return deleted


def table_sizes(engine: Engine, *, now: datetime, days: float) -> list[TableSize]:
    """Every table's row count and size, and for the lifecycle tables how many rows the next
    purge would delete."""
    cutoff = now - timedelta(days=days)
    names = sorted(sa.inspect(engine).get_table_names())
    result = []
    with engine.connect() as conn:
        pg = engine.dialect.name == "postgresql"
        for name in names:
            rows = int(conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar() or 0)
            size = None
            if pg:
                size = int(conn.execute(sa.text("SELECT pg_total_relation_size(:t)"),
                                        {"t": name}).scalar() or 0)
            due = 0
            if name in TABLES:
                due = int(conn.execute(sa.text(
                    f"SELECT count(*) FROM {name} WHERE {_due_clause(name)}"),
                    {"cutoff": cutoff}).scalar() or 0)
            result.append(TableSize(name, rows, size, due))
    return result


def database_bytes(engine: Engine) -> int | None:
    """The whole database on disk (PostgreSQL: pg_database_size; SQLite: pages x page size)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return int(conn.execute(sa.text(
                "SELECT pg_database_size(current_database())")).scalar() or 0)
        if engine.dialect.name == "sqlite":
            pages = conn.execute(sa.text("PRAGMA page_count")).scalar() or 0
            size = conn.execute(sa.text("PRAGMA page_size")).scalar() or 0
            return int(pages) * int(size)
    return None
