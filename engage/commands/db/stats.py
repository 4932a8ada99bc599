"""``engage db stats``: table sizes, and what the daily retention purge will remove."""

from __future__ import annotations

import typer

from engage.commands.common import console, fail
from engage.config import ConfigError, get_settings


def stats_command(
    url: str | None = typer.Option(
        None, "--url", help="Database URL (default: ENGAGE_DATABASE_URL)."),
) -> None:
    """Table sizes, and what the daily retention purge will remove (ENGAGE_RETENTION_DAYS)."""
    import sqlalchemy as sa

    from engage.clock import utcnow
    from engage.commands.db.connect import open_engine
    from engage.storage.lifecycle import database_bytes, table_sizes

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
