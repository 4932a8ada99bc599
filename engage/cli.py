"""The ``engage`` command. Each command group lives in ``engage/commands/<name>`` and exposes
``register(app)``; this module only wires them and turns errors into one line."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from engage.commands import (
    audit,
    campaign,
    chat,
    db,
    deliberation,
    demo,
    dialogue,
    export,
    flows,
    outbox,
    report,
    scheduler,
    secret,
    sentiment,
    serve,
    telegram,
    tokens,
    users,
)
from engage.config import ConfigError
from engage.errors import EngageError

app = typer.Typer(
    name="engage",
    help="Community dialogue and survey engagement bot (SMS and Telegram).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # docstrings are reflowed to the terminal's width and ``code`` shown as code, not raw
    rich_markup_mode="markdown",
)

COMMAND_GROUPS = (
    flows,
    db,
    serve,
    chat,
    outbox,
    campaign,
    dialogue,
    scheduler,
    export,
    report,
    demo,
    audit,
    sentiment,
    telegram,
    users,
    tokens,
    secret,
    deliberation,
)  # in the order ``engage --help`` lists them

for group in COMMAND_GROUPS:
    group.register(app)


def main() -> None:
    """Console-script entry point: known errors become one line on stderr and exit code 1."""
    try:
        app()
    except (EngageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except ValidationError as exc:  # a setting from the environment or .env is invalid
        for problem in exc.errors(include_url=False, include_input=False):
            name = ".".join(str(part) for part in problem["loc"])
            message = problem["msg"].removeprefix("Value error, ")
            print(f"error: {message if name in message else f'{name}: {message}'}",
                  file=sys.stderr)
        sys.exit(1)
