"""``engage report``: the public static HTML report for one period."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy.exc import SQLAlchemyError

from engage.commands.common import console, fail
from engage.commands.db.problems import database_problem
from engage.config import ConfigError, get_settings
from engage.errors import EngageError


def report(
    period: str = typer.Option(..., "--period", help="Quarter (2026Q3) or month (2026-07)."),
    out: Path = typer.Option(..., "--out", help="Directory for index.html, the CSV and manifest."),
) -> None:
    """Write a self-contained HTML page (charts, plain-language method) and its CSV."""
    from engage.analytics.report import build_report
    from engage.commands.db.connect import open_engine

    settings = get_settings()
    try:
        result = build_report(
            engine=open_engine(), settings=settings,
            period=period, out=out, now=datetime.now(UTC), actor="cli",
        )
    except (EngageError, ConfigError, OSError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(database_problem(exc))
    pages = f"{result.html}, {result.html_es.name}" if result.html_es else str(result.html)
    console.print(f"wrote {pages} and {result.csv.name}", markup=False, highlight=False)
    if result.answered == 0:
        from engage.commands.export import no_data

        no_data(period)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
