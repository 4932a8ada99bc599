"""The ``engage db`` command group, and how every command reaches the database.

- ``upgrade``: ``engage db upgrade`` (migrations, then the audit chain's sealing entry).
- ``stats``: ``engage db stats`` (table sizes and what the retention purge will remove).
- ``connect``: the engine for any command, schema checked (or migrated on SQLite), or exit 1.
- ``problems``: one readable line for a database failure, never a traceback.
"""

from __future__ import annotations

import typer

from engage.commands.db.stats import stats_command
from engage.commands.db.upgrade import upgrade_command

db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
db_app.command("upgrade")(upgrade_command)
db_app.command("stats")(stats_command)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
