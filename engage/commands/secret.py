"""``engage secret generate``: a fresh key for ENGAGE_SECRET_KEY (or any other engage secret)."""

from __future__ import annotations

import typer

secret_app = typer.Typer(help="Production secrets.", no_args_is_help=True)


@secret_app.command("generate")
def generate() -> None:
    """Print a new random 256-bit key (URL-safe). Put it in deploy/engage.env, never in git."""
    from engage import secret_strength

    typer.echo(secret_strength.generate())


def register(app: typer.Typer) -> None:
    """Add the ``secret`` command group."""
    app.add_typer(secret_app, name="secret")
