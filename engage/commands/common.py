"""Helpers shared by CLI commands: one-line errors and a console."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print one clear line to stderr and exit 1 (the CLI contract)."""
    # Plain print, not rich: rich wraps long lines at the console width, and the contract is
    # one line per error.
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    raise typer.Exit(1)
