"""The engine factory: schema, aware datetimes, SQLite pragmas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engage.storage.db import session_scope
from engage.storage.tables import Participant


def test_schema_round_trips_aware_datetimes(db_engine: sa.Engine) -> None:
    moment = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    with session_scope(db_engine) as session:
        session.add(Participant(key="k" * 64, channel="sms", created_at=moment))
    with session_scope(db_engine) as session:
        row = session.exec(select(Participant)).one()
    assert row.created_at == moment
    assert row.created_at.tzinfo is not None


def test_naive_datetimes_are_rejected(db_engine: sa.Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), session_scope(db_engine) as session:
        session.add(Participant(key="n" * 64, channel="sms", created_at=datetime(2026, 1, 1)))


def test_sqlite_uses_wal(db_engine: sa.Engine) -> None:
    if db_engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragma")
    with db_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_the_sqlite_writer_lock_waits_at_most_the_busy_timeout(tmp_path) -> None:
    """Two writers of one SQLite file in one process queue on a lock; one that cannot get it
    within the busy timeout gets the retryable error SQLite would give, never a hang."""
    import threading

    from engage.errors import RetryableError
    from engage.storage.db import make_engine, session_scope

    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite3'}", busy_timeout_ms=200)
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with session_scope(engine):
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    try:
        with pytest.raises(RetryableError, match="busy"), session_scope(engine):
            pass
    finally:
        release.set()
        holder.join(5)
    with session_scope(engine):  # free again
        pass
