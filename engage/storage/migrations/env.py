"""Alembic environment: the metadata is every table engage knows (``engage.storage.tables``).

Regenerating the initial migration (lead, before release) -- see docs/OPERATIONS-storage.md:
    .venv/bin/python -m engage.storage.regenerate
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, pool

from engage.storage.db import make_engine, metadata

config = context.config
target_metadata = metadata()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from engage.config import get_settings

        url = get_settings().effective_database_url
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
