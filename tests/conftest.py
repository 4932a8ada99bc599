"""Shared fixtures (owner: storage helper). Names are a contract other tests rely on:

- ``settings``: isolated Settings (tmp data dir, test secret, no .env, ENGAGE_ENV=test); the
  process-wide ``get_settings()`` returns an equivalent object during the test.
- ``db_engine``: an Engine with a fresh schema, parametrized over ``sqlite`` and ``postgresql``.
  PostgreSQL is skipped unless ENGAGE_TEST_POSTGRES_URL is set; each test session creates its own
  uniquely named database on that server (and drops it at the end), so parallel runs by other
  people never collide; tables are truncated before every test.
- ``clock``: a controllable aware-UTC clock (``clock()``, ``clock.advance(seconds=...)``).
- ``catalog``: FlowCatalog over the shipped ``flows/``; ``runtime``: Runtime on db_engine.
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engage.config import DEFAULT_FLOWS_DIR, Settings, get_settings
from engage.storage.db import create_schema, make_engine, metadata

PG_ENV = "ENGAGE_TEST_POSTGRES_URL"
TEST_SECRET = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
_ENV_VARS = (
    "ENGAGE_ENV", "ENGAGE_DATA_DIR", "ENGAGE_DATABASE_URL", "ENGAGE_SECRET_KEY",
    "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER",
    "TWILIO_MESSAGING_SERVICE_SID", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET",
    "ENGAGE_METRICS_TOKEN", "ENGAGE_PUBLIC_URL",
)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Isolated settings: nothing from the developer's environment or .env leaks in."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    monkeypatch.setenv("ENGAGE_ENV", "test")
    monkeypatch.setenv("ENGAGE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("ENGAGE_FLOWS_DIR", str(DEFAULT_FLOWS_DIR))
    get_settings.cache_clear()
    value = Settings(_env_file=None)  # type: ignore[call-arg]
    yield value
    get_settings.cache_clear()


@dataclass
class FakeClock:
    """Injected time: tests move it explicitly, so nothing depends on the wall clock."""

    now: datetime = field(default_factory=lambda: datetime(2026, 7, 1, 16, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("aware datetimes only")
        self.now = moment


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# --- databases --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _pg_database_url() -> Iterator[str]:
    """Create a uniquely named database for this test session and drop it afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    admin_url = sa.make_url(base).set(database="postgres")
    name = f"engage_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {PG_ENV} is unreachable: {type(exc.orig).__name__}")
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def _pg_engine(_pg_database_url: str) -> Iterator[Engine]:
    engine = make_engine(_pg_database_url)
    create_schema(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    create_schema(engine)  # tables registered after the session started
    names = ", ".join(f'"{t.name}"' for t in metadata().sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, empty schema on SQLite (a new file) or PostgreSQL (truncated tables)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'test.sqlite3'}")
        create_schema(engine)
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("_pg_engine")
    _truncate_all(engine)
    yield engine
    _assert_no_connection_left(engine)


def _assert_no_connection_left(engine: Engine) -> None:
    """The PostgreSQL pool lives for the whole session: a connection one test leaves checked
    out would starve a later, unrelated test, so the test that leaves it fails instead."""
    pool: Any = engine.pool
    if pool.checkedout():
        gc.collect()  # objects in reference cycles wait for the collector: not a leak
    assert pool.checkedout() == 0, (
        f"{pool.checkedout()} PostgreSQL connection(s) left checked out: close the Runtime, "
        "dispatcher or connection this test opened")


@pytest.fixture
def db_url(db_engine: Engine) -> str:
    """The URL of ``db_engine`` (password included), for code that builds its own engine."""
    return db_engine.url.render_as_string(hide_password=False)


# --- flows and runtime ------------------------------------------------------------------


@pytest.fixture
def catalog(settings: Settings) -> Any:
    from engage.flows_catalog import FlowCatalog

    return FlowCatalog(settings.flows_dir)


@pytest.fixture
def runtime(db_engine: Engine, settings: Settings, catalog: Any,
            clock: FakeClock) -> Iterator[Any]:
    from engage.runtime import Runtime

    runtime = Runtime(engine=db_engine, settings=settings, catalog=catalog, clock=clock)
    yield runtime
    runtime.close()  # its kept connection goes back to the session-wide PostgreSQL pool
