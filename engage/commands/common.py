"""Helpers shared by CLI commands: one-line errors and a console."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print one clear line to stderr and exit 1 (the CLI contract)."""
    err_console.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(1)
