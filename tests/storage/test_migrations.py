"""The packaged Alembic migrations and the models agree, on SQLite and PostgreSQL.

If this fails after a model change: regenerate with ``python -m engage.storage.regenerate``
(pre-release) or add a revision (see docs/OPERATIONS-storage.md).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from engage.cli import app
from engage.storage.regenerate import pending_diff

PG_ENV = "ENGAGE_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) on each backend; PostgreSQL gets its own throwaway DB."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    name = f"engage_mig_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(sa.make_url(base).set(database="postgres"),
                             isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_upgrade_from_any_cwd_and_models_agree(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the packaged alembic.ini must be found without a cwd
    result = CliRunner().invoke(app, ["db", "upgrade", "--url", empty_db_url])
    assert result.exit_code == 0, result.output
    assert pending_diff(empty_db_url) == []
    again = CliRunner().invoke(app, ["db", "upgrade", "--url", empty_db_url])  # idempotent
    assert again.exit_code == 0, again.output


def test_upgrade_reports_unreachable_database_in_one_line() -> None:
    result = CliRunner().invoke(
        app, ["db", "upgrade", "--url", "postgresql+psycopg://nobody@127.0.0.1:1/none"])
    assert result.exit_code == 1
    assert "database unavailable" in result.output and "Traceback" not in result.output
