"""The ``engage`` command. Each command group lives in ``engage/commands/<name>.py`` and
exposes ``register(app)``; this module only wires them and turns errors into one line."""

from __future__ import annotations

import importlib
import sys

import typer

from engage.config import ConfigError
from engage.errors import EngageError

app = typer.Typer(
    name="engage",
    help="Community dialogue and survey engagement bot (SMS and Telegram).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = (
    "flows",
    "db",
    "serve",
    "chat",
    "outbox",
    "campaign",
    "dialogue",
    "scheduler",
    "export",
    "report",
    "demo",
    "audit",
    "sentiment",
    "telegram",
    "users",
    "tokens",
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        module_name = f"engage.commands.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # command group not built yet
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point: known errors become one line on stderr and exit code 1."""
    try:
        app()
    except (EngageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
