"""``engage deliberation``: Polis-style conversations (create, statements, moderation,
invitations, analysis, the opinion map, and Polis import/export)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from engage.commands.campaign import _run, parse_when
from engage.commands.common import console
from engage.commands.scheduler import fail, open_context
from engage.errors import UserError

delib_app = typer.Typer(help="Polis-style deliberation: statements, votes, opinion groups.",
                        no_args_is_help=True)
UrlOption = Annotated[str | None, typer.Option("--url", help="Database URL "
                                               "(default: ENGAGE_DATABASE_URL).")]


def register(app: typer.Typer) -> None:
    app.add_typer(delib_app, name="deliberation")


def _now() -> Any:
    from engage.clock import utcnow

    return utcnow()


@delib_app.command("create")
def create(
    topic: Annotated[str, typer.Option(help="What neighbours are asked about")],
    area: Annotated[str | None, typer.Option(help="Invite residents of this area only")] = None,
    languages: Annotated[str, typer.Option(help="en, es or en,es")] = "en",
    opens: Annotated[str | None, typer.Option(help="ISO-8601 (default: now)")] = None,
    closes: Annotated[str | None, typer.Option(help="ISO-8601 (default: open-ended)")] = None,
    session_id: Annotated[int | None, typer.Option("--session", help="Dialogue session id "
                                                   "whose briefing shows the results")] = None,
    daily_cap: Annotated[int, typer.Option(help="Statements texted per resident per day",
                                           min=1)] = 5,
    url: UrlOption = None,
) -> None:
    """Create a conversation; prints its id alone on stdout."""
    from engage.deliberation.store import create_conversation

    ctx = open_context(url)
    now = _now()
    try:
        opens_at = parse_when(opens, ctx.settings.timezone, now=now)
        closes_at = parse_when(closes, ctx.settings.timezone, now=now)
    except UserError as exc:
        fail(str(exc))
    conv = _run(ctx, lambda s: create_conversation(
        s, topic=topic, area=area, languages=languages, opens_at=opens_at,
        closes_at=closes_at, dialogue_session_id=session_id, daily_cap=daily_cap))
    print(conv.id)


@delib_app.command("add")
def add(
    conversation: Annotated[int, typer.Argument(help="Conversation id")],
    text: Annotated[str, typer.Argument(help="The seed statement (at most 280 characters)")],
    language: Annotated[str, typer.Option(help="en or es")] = "en",
    translation: Annotated[str | None, typer.Option(help="The same in the other language")
                           ] = None,
    url: UrlOption = None,
) -> None:
    """Add a seed statement (staff or mediator: shown at once); prints its id."""
    from engage.deliberation.store import add_statement, translate

    ctx = open_context(url)

    def action(s: Any) -> Any:
        statement = add_statement(s, conversation, text, language=language)
        assert statement.id is not None
        if translation:
            translate(s, statement.id, translation)
        return statement

    print(_run(ctx, action).id)


@delib_app.command("translate")
def translate_command(
    statement: Annotated[int, typer.Argument(help="Statement id")],
    text: Annotated[str, typer.Argument(help="The statement in the other language")],
    url: UrlOption = None,
) -> None:
    """Attach a staff translation (residents reading the other language then see it)."""
    from engage.deliberation.store import translate

    ctx = open_context(url)
    _run(ctx, lambda s: translate(s, statement, text))
    print(statement)


@delib_app.command("moderate")
def moderate_command(
    statement: Annotated[int, typer.Argument(help="Statement id")],
    approve: Annotated[bool, typer.Option("--approve/--reject", help="Show it, or not")],
    by: Annotated[str, typer.Option(help="Who moderates (mediator or staff id)")],
    reason: Annotated[str | None, typer.Option(help="Why (required to reject; kept)")] = None,
    url: UrlOption = None,
) -> None:
    """Approve or reject a resident's statement; an approved author is told by text."""
    from engage.deliberation.store import moderate
    from engage.deliberation.texting import notify_published

    ctx = open_context(url)
    now = _now()

    def action(s: Any) -> tuple[str, bool]:
        item = moderate(s, statement, approve=approve, by=by, reason=reason, now=now)
        told = notify_published(s, item, now=now, settings=ctx.settings)
        return item.status, told

    status, told = _run(ctx, action)
    print(f"statement {statement} {status}" + (" (author told)" if told else ""))


@delib_app.command("invite")
def invite_command(
    conversation: Annotated[int, typer.Argument(help="Conversation id")],
    limit: Annotated[int | None, typer.Option(help="At most this many residents", min=1)
                     ] = None,
    url: UrlOption = None,
) -> None:
    """Invite residents who agreed to dialogue invitations (each once); prints how many."""
    from engage.deliberation.store import get_conversation
    from engage.deliberation.texting import invite

    ctx = open_context(url)
    now = _now()

    def action(s: Any) -> int:
        get_conversation(s, conversation)
        return invite(s, conversation, now=now, settings=ctx.settings, limit=limit)

    print(_run(ctx, action))


@delib_app.command("show")
def show(
    conversation: Annotated[int, typer.Argument(help="Conversation id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOption = None,
) -> None:
    """The conversation and its statements with vote counts and moderation status."""
    from engage.deliberation.store import statement_table

    ctx = open_context(url)
    data = _run(ctx, lambda s: statement_table(s, conversation, ctx.settings.min_cell_size))
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console.print(f"[bold]{data['topic']}[/bold]  area={data['area'] or 'all'}  "
                  f"languages={data['languages']}  voters={data['voters']}")
    table = Table("id", "status", "agree", "disagree", "unsure", "text")
    for row in data["statements"]:
        table.add_row(str(row["id"]), row["status"], *(str(row[k]) for k in
                      ("agree", "disagree", "unsure")), row["text"])
    console.print(table)


def _analysis(ctx: Any, conversation: int) -> tuple[Any, Any]:
    from engage.deliberation.analysis import analyze
    from engage.deliberation.store import texts, vote_matrix

    def action(s: Any) -> tuple[Any, Any]:
        return vote_matrix(s, conversation), texts(s, conversation)

    matrix, statements = _run(ctx, action)
    return analyze(matrix), statements


@delib_app.command("analyze")
def analyze_command(
    conversation: Annotated[int, typer.Argument(help="Conversation id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOption = None,
) -> None:
    """Opinion groups, their representative statements and consensus statements."""
    from engage.deliberation.report import analysis_json

    ctx = open_context(url)
    result, statements = _analysis(ctx, conversation)
    data = analysis_json(result, statements, ctx.settings.min_cell_size)
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console.print(f"{data['voters']} voters, {data['clustered']} grouped, "
                  f"{len(data['groups'])} groups")
    for g in data["groups"]:
        size = "fewer than the minimum cell size" if g["suppressed"] else f"{g['size']} people"
        console.print(f"[bold]Group {g['label']}[/bold] ({size})")
        for r in g["representative"]:
            console.print(f"  {r['direction']:8} {round(100 * r['rate'])}%  {r['text']}")
    console.print("[bold]Where everyone agrees[/bold]")
    for c in data["consensus"]:
        console.print(f"  {c['direction']:8} {c['text']}")


@delib_app.command("map")
def map_command(
    conversation: Annotated[int, typer.Argument(help="Conversation id")],
    out: Annotated[Path, typer.Option(help="Where to write the SVG picture")],
    url: UrlOption = None,
) -> None:
    """Write the opinion-group map (SVG): published groups only, no individual voters."""
    from engage.deliberation.opinion_map import render_svg
    from engage.deliberation.report import published
    from engage.deliberation.store import get_conversation

    ctx = open_context(url)
    topic = _run(ctx, lambda s: get_conversation(s, conversation).topic)
    result, statements = _analysis(ctx, conversation)
    svg = render_svg(published(result, statements, ctx.settings.min_cell_size), topic)
    try:
        out.write_text(svg, encoding="utf-8")
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror})")
    print(out)


@delib_app.command("import-polis")
def import_polis_command(
    directory: Annotated[Path, typer.Argument(help="A Polis export folder")],
    url: UrlOption = None,
) -> None:
    """Import comments.csv and votes.csv (or participants-votes.csv); the new conversation's
    id is the last line printed."""
    from engage.deliberation.polis_format import read_export
    from engage.deliberation.store import import_polis

    ctx = open_context(url)
    try:
        export = read_export(directory)
    except UserError as exc:
        fail(str(exc))
    now = _now()
    conv = _run(ctx, lambda s: import_polis(s, export, now=now))
    print(f"imported {len(export.comments)} statements and {len(export.votes)} votes")
    print(conv.id)


@delib_app.command("export-polis")
def export_polis_command(
    conversation: Annotated[int, typer.Argument(help="Conversation id")],
    directory: Annotated[Path, typer.Argument(help="Folder to write (created if missing)")],
    url: UrlOption = None,
) -> None:
    """Write the conversation in Polis's export format, with engage's group per voter."""
    from engage.deliberation.polis_format import write_export
    from engage.deliberation.store import export_polis

    ctx = open_context(url)
    result, _ = _analysis(ctx, conversation)
    export = _run(ctx, lambda s: export_polis(s, conversation, result.membership))
    try:
        write_export(directory, export)
    except OSError as exc:
        fail(f"{directory}: cannot write ({exc.strerror})")
    print(directory)
