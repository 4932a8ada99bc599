"""``engage sentiment TEXT``: print engage's sentiment score for one piece of text."""

from __future__ import annotations

import sys

import typer

from engage.commands.common import fail


def sentiment(
    text: str = typer.Argument(..., help='The text to score; "-" reads it from standard input.'),
    explain: bool = typer.Option(
        False, "--explain", help="Also print the words that carried sentiment and the version."
    ),
) -> None:
    """Print the sentiment score in [-1, 1] (a hint beside Likert answers, never the measure)."""
    from engage.analytics.sentiment import SCORER_VERSION, assessments, score

    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        fail("no text to score")
    value = score(text)
    typer.echo(f"{value:.3f}")
    if explain:
        typer.echo(f"scorer: {SCORER_VERSION}")
        for term, contribution in assessments(text):
            typer.echo(f"  {contribution:+.3f}  {term}")


def register(app: typer.Typer) -> None:
    """Add the single ``sentiment`` command."""
    app.command("sentiment")(sentiment)
