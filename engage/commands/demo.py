"""``engage demo``: see the whole product work on a synthetic community, offline."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from engage.commands.common import console, fail
from engage.commands.db.problems import database_problem
from engage.config import ConfigError, get_settings
from engage.errors import EngageError


def demo(
    residents: int = typer.Option(2000, "--residents", help="How many synthetic residents."),
    out: Path | None = typer.Option(
        None, "--out", help="Use a fresh SQLite database of its own in this directory. "
        "Default: fill the configured database (ENGAGE_DATABASE_URL; refused unless empty or "
        "an earlier demo), so export and report read it; files go to DATA_DIR/demo."
    ),
    period: str | None = typer.Option(
        None, "--period", help="Quarter or month to report (default: the last complete quarter)."
    ),
    seed: int = typer.Option(2026, "--seed", help="Same seed, same community, same figures."),
) -> None:
    """Residents answer the survey by signed SMS webhooks through the real app, then the
    staff export, a mediator briefing and the public report are written."""
    from engage.demo.run import run_demo

    settings = get_settings()
    target = out or settings.data_dir / "demo"
    database_url = None
    if out is None:
        from engage.commands.db.connect import open_engine

        open_engine().dispose()  # the configured database, schema ready, or a clear error
        database_url = settings.effective_database_url
    columns = (TextColumn("[bold]residents answering"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("demo", total=residents)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = run_demo(settings=settings, residents=residents, seed=seed, out_dir=target,
                              period=period, on_progress=advance, database_url=database_url)
    except (EngageError, ConfigError, OSError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(database_problem(exc))
    console.print(
        f"{result.residents} residents sent {result.messages} messages "
        f"({result.completed} completed, {result.declined} declined, {result.responses} answers "
        f"stored) in {result.seconds:.1f}s",
        markup=False, highlight=False,
    )
    where = "cancelled" if database_url else "left queued in the demo outbox"
    console.print(f"{result.replies_queued} bot replies {where} (not sent: the demo has no "
                  "phone network)", markup=False, highlight=False)
    console.print(f"summary export ({result.period}): {result.export}", markup=False)
    console.print(f"mediator briefing: {result.briefing}", markup=False)
    console.print(f"public report: {result.report}", markup=False)
    from engage.commands.db.connect import shown_url

    where = ("the configured database: `engage export` and `engage report` read it"
             if database_url else "its own database; the configured one is unchanged")
    console.print(f"database: {shown_url(result.database_url)} ({where})", markup=False,
                  highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
