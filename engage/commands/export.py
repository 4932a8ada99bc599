"""``engage export summary|briefing``: anonymized files for staff and mediators."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from engage.commands.common import console, err_console, fail
from engage.commands.db.problems import database_problem
from engage.config import ConfigError, get_settings
from engage.errors import EngageError


def _engine() -> Engine:
    from engage.commands.db.connect import open_engine

    return open_engine()


def summary(
    period: str = typer.Option(..., "--period", help="Quarter (2026Q3) or month (2026-07)."),
    by: str = typer.Option(
        "district", "--by", help="Comma-separated: district|neighbourhood, age_band, "
        "race_ethnicity, contact_type (incident type)."
    ),
    fmt: str = typer.Option("csv", "--format", help="csv, json or xlsx."),
    out: Path = typer.Option(..., "--out", help="File to write; FILE.sha256 is written beside it."),
) -> None:
    """Write the anonymized summary (small cells withheld) with a method note and manifest."""
    from engage.analytics.exports import export_summary

    try:
        result = export_summary(
            engine=_engine(), settings=get_settings(), period=period, by=by, fmt=fmt.lower(),
            out=out, now=datetime.now(UTC), actor="cli",
        )
    except (EngageError, ConfigError, OSError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(database_problem(exc))
    console.print(
        f"wrote {result.path} ({result.rows} rows, {result.withheld} withheld) "
        f"sha256 {result.sha256[:16]}… manifest {result.manifest.name}",
        markup=False, highlight=False,
    )
    if result.answered == 0:
        no_data(period)


def no_data(period: str) -> None:
    """Say plainly that a period has no answers, and where the command looked."""
    from engage.commands.db.connect import shown_url

    url = shown_url(get_settings().effective_database_url)
    err_console.print(f"no data for {period}: nobody answered the survey in that period in "
                      f"{url} (ENGAGE_DATABASE_URL)", markup=False, highlight=False,
                      soft_wrap=True)


def briefing(
    session: int | None = typer.Option(None, "--session", help="Dialogue session id."),
    area: str | None = typer.Option(None, "--area", help="District or neighbourhood name."),
    fmt: str = typer.Option("md", "--format", help="md or json."),
    out: Path | None = typer.Option(None, "--out", help="File (default briefing-AREA.md)."),
    period: str | None = typer.Option(
        None, "--period", help="Last quarter of the trend (default: the current quarter)."
    ),
) -> None:
    """A mediator's briefing: trend, themes and consented, scrubbed quotes for one area."""
    from engage.analytics.briefing import export_briefing

    if (area is None) == (session is None):
        fail("give exactly one of --session ID or --area NAME")
    target = out or Path(f"briefing-{(area or f'session-{session}').replace(' ', '-')}.{fmt}")
    try:
        result, digest = export_briefing(
            engine=_engine(), settings=get_settings(), area=area, session_id=session,
            out=target, fmt=fmt.lower(), now=datetime.now(UTC), actor="cli", period=period,
        )
    except (EngageError, ConfigError, OSError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(database_problem(exc))
    console.print(
        f"wrote {target} for {result.dimension} {result.area} ({len(result.quotes)} quotes) "
        f"sha256 {digest[:16]}…",
        markup=False, highlight=False,
    )


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Anonymized exports for staff (summary) and mediators (briefing).",
                        no_args_is_help=True)
    group.command("summary")(summary)
    group.command("briefing")(briefing)
    app.add_typer(group, name="export")
