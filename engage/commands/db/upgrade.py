"""``engage db upgrade``: bring the configured database to the latest schema."""

from __future__ import annotations

import typer

from engage.commands.common import console, fail
from engage.config import ConfigError, get_settings


def upgrade_command(
    url: str | None = typer.Option(
        None, "--url", help="Database URL (default: ENGAGE_DATABASE_URL)."),
    revision: str = typer.Option("head", "--revision", help="Target revision."),
) -> None:
    """Apply the packaged Alembic migrations (works from any directory)."""
    import sqlalchemy as sa
    from alembic.util.exc import CommandError

    from engage.storage.db import upgrade

    try:
        target = url or get_settings().effective_database_url
        upgrade(target, revision)
        sealed = seal_audit_chain(target) if revision == "head" else 0
    except ConfigError as exc:
        fail(str(exc))
    except ValueError as exc:  # the audit chain matches neither hash: say so, as verify would
        fail(str(exc))
    except CommandError as exc:
        fail(f"migration failed: {exc}")
    except sa.exc.OperationalError as exc:
        fail(f"database unavailable: {type(exc.orig).__name__}: {str(exc.orig).splitlines()[0]}")
    except sa.exc.ArgumentError as exc:
        fail(f"invalid database URL: {exc}")
    console.print(f"database at {sa.make_url(target).render_as_string(hide_password=True)} "
                  f"is at revision {revision}", highlight=False, markup=False)
    if sealed:
        console.print(f"audit log: sealed {sealed} entries written before the chain was keyed",
                      highlight=False, markup=False)


def seal_audit_chain(url: str) -> int:
    """A chain from before keyed audit entries gets its one sealing entry (see engage.audit)."""
    from engage.commands.audit import seal_chain
    from engage.commands.db.connect import engine_for

    engine = engine_for(url)
    try:
        return seal_chain(engine)
    finally:
        engine.dispose()
