"""``engage serve`` builds its engine with the CLI's options: on PostgreSQL no server-side
prepared statements (a generic plan for ``dedupe_key LIKE $1`` scans the whole outbox)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.web.app import create_app


def test_app_engine_never_prepares_on_postgresql(db_engine: Engine, db_url: str,
                                                 settings: Settings) -> None:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL connection option")
    app = create_app(settings.model_copy(update={"database_url": db_url}),
                     start_background=False)
    engine = app.state.engine
    try:
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold is None
    finally:
        app.state.runtime.close()
        engine.dispose()
