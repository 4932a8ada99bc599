"""Open the configured database for a CLI command, or say in one line what is wrong.

The embedded default must just work: on SQLite (one process) the schema is brought to the
latest migration on first use. On PostgreSQL several processes may start at once, so commands
only check and tell the operator to run ``engage db upgrade``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engage.commands.common import fail
from engage.config import ConfigError, get_settings
from engage.storage.db import engine_options


def engine_for(url: str) -> Engine:
    """An engine with the options every command and ``engage serve`` share (no schema check)."""
    from engage.storage.db import make_engine

    options: dict[str, Any] = dict(engine_options(url))  # keyword arguments for create_engine
    return make_engine(url, **options)


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def ensure_schema(url: str, *, migrate: bool = True) -> None:
    """SQLite: apply migrations now. Elsewhere: check the schema is at the latest revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from engage.storage.db import alembic_config, metadata, upgrade

    shown = shown_url(url)
    try:
        heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
        engine = engine_for(url)
        try:
            with engine.connect() as conn:
                current = set(MigrationContext.configure(conn).get_current_heads())
                tables = set(sa.inspect(conn).get_table_names())
        finally:
            engine.dispose()
        if not current and tables and set(metadata().tables) <= tables:
            return  # created directly from the models (tests, the demo): already complete
        if current != heads and migrate and sa.make_url(url).get_backend_name() == "sqlite":
            upgrade(url)
            return
    except sa.exc.ArgumentError as exc:
        fail(f"invalid database URL: {exc}")
    except sa.exc.OperationalError as exc:
        fail(f"database at {shown} is unavailable ({type(exc.orig).__name__})")
    except Exception as exc:
        fail(f"database at {shown} could not be prepared ({type(exc).__name__}: {exc}); "
             "run `engage db upgrade`")
    if current != heads:
        fail(f"database at {shown} is not at the latest schema: run `engage db upgrade` first")


def open_engine(url: str | None = None, *, migrate: bool = True) -> Engine:
    """The engine for ``url`` (default: the configured database), schema ready, or exit 1."""
    try:
        settings = get_settings()
        settings.check_production()
    except ConfigError as exc:
        fail(str(exc))
    target = url or settings.effective_database_url
    ensure_schema(target, migrate=migrate)
    try:
        return engine_for(target)
    except sa.exc.ArgumentError as exc:
        fail(f"invalid database URL: {exc}")
