"""``engage db upgrade``: bring the configured database to the latest schema."""

from __future__ import annotations

import typer

from engage.commands.common import console, fail
from engage.config import ConfigError, get_settings

db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)


@db_app.command("upgrade")
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
    from engage.commands.database import engine_options
    from engage.storage.db import make_engine

    engine = make_engine(url, **engine_options(url))
    try:
        return seal_chain(engine)
    finally:
        engine.dispose()


@db_app.command("stats")
def stats_command(
    url: str | None = typer.Option(
        None, "--url", help="Database URL (default: ENGAGE_DATABASE_URL)."),
) -> None:
    """Table sizes, and what the daily retention purge will remove (ENGAGE_RETENTION_DAYS)."""
    import sqlalchemy as sa

    from engage.commands.database import open_engine
    from engage.storage.lifecycle import database_bytes, table_sizes
    from engage.storage.models import utcnow

    try:
        settings = get_settings()
        engine = open_engine(url, migrate=False)
        sizes = table_sizes(engine, now=utcnow(), days=settings.retention_days)
        total = database_bytes(engine)
    except ConfigError as exc:
        fail(str(exc))
    except sa.exc.OperationalError as exc:
        fail(f"database unavailable: {type(exc.orig).__name__}")
    console.print(f"{'table':<28}{'rows':>12}{'size':>12}{'due for removal':>18}",
                  highlight=False, markup=False)
    for size in sizes:
        shown = _human(size.bytes) if size.bytes is not None else "-"
        due = str(size.due) if size.name in ("outbox", "message") else "-"
        console.print(f"{size.name:<28}{size.rows:>12}{shown:>12}{due:>18}",
                      highlight=False, markup=False)
    console.print(f"database: {_human(total) if total is not None else 'unknown'}; rows past "
                  f"{settings.retention_days} days are removed by the scheduler's daily "
                  "retention tick", highlight=False, markup=False)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
