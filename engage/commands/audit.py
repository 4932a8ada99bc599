"""``engage audit verify``: prove the audit log has not been altered, padded or trimmed."""

from __future__ import annotations

import typer

from engage.commands.common import console, fail
from engage.config import ConfigError

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify_command(
    url: str | None = typer.Option(
        None, "--url", help="Database URL (default: ENGAGE_DATABASE_URL)."),
) -> None:
    """Exit 0 when the chain is intact; exit 1 naming the first bad entry."""
    import sqlalchemy as sa
    from sqlmodel import Session

    from engage import audit
    from engage.commands.database import open_engine

    try:
        engine = open_engine(url)
        with Session(engine) as session:
            result = audit.verify(session)
    except ConfigError as exc:
        fail(str(exc))
    except sa.exc.OperationalError as exc:
        fail(f"database unavailable: {type(exc.orig).__name__}")
    except sa.exc.ArgumentError as exc:
        fail(f"invalid database URL: {exc}")
    if not result.ok:
        fail(f"audit log broken at entry seq={result.first_bad_seq}: {result.reason}")
    console.print(f"audit log intact: {result.entries} entries", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
