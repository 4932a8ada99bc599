"""The engine factory: schema, aware datetimes, SQLite pragmas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engage.storage.db import session_scope
from engage.storage.models import Participant


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
