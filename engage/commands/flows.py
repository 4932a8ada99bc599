"""``engage flows validate`` and ``engage flows simulate``: check and try flows without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from engage.commands.common import console, fail
from engage.config import get_settings
from engage.flow.events import Say
from engage.flow.loader import (
    FlowError,
    Problem,
    check_flow_file,
    check_gazetteer_file,
    flow_files,
    load_flow,
)
from engage.flow.model import Flow
from engage.flow.simulate import WAIT, Conversation, context_names

flows_app = typer.Typer(help="Validate and simulate conversation flows.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(flows_app, name="flows")


def _short(path: Path) -> Path:
    """Show paths relative to the working directory when they are under it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _is_gazetteer(path: Path) -> bool:
    return path.parent.name == "areas"


def _targets(paths: list[Path] | None) -> list[Path]:
    """Flow files (and gazetteers under areas/) named by ``paths`` or in flows/."""
    if not paths:
        directory = get_settings().flows_dir
        if not directory.is_dir():
            fail(f"flows directory not found: {directory}")
        paths = [_short(directory)]
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(flow_files(path))
            if (path / "areas").is_dir():
                out.extend(flow_files(path / "areas"))
        else:
            out.append(path)
    return out


@flows_app.command("validate")
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Flow files or directories (default: every flow in flows/)."),
    ] = None,
) -> None:
    """Check flows: one line per problem (FILE: location: message); exit 1 on any error."""
    files = _targets(paths)
    if not files:
        fail("no flow files found")
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    valid = 0
    gazetteers = [p for p in files if _is_gazetteer(p)]
    for path in gazetteers:
        problems.extend(check_gazetteer_file(path))
    files = [p for p in files if not _is_gazetteer(p)]
    for path in files:
        flow, found = check_flow_file(path)
        problems.extend(found)
        if flow is None:
            continue
        if flow.id in seen:
            problems.append(Problem(str(path), "id",
                                    f"duplicate flow id {flow.id!r} (also in {seen[flow.id]})"))
            continue
        seen[flow.id] = path
        valid += 1
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    for problem in errors + warnings:
        typer.echo(str(problem))
    summary = (f"{valid} of {len(files)} flows valid ({len(gazetteers)} gazetteers checked), "
               f"{len(errors)} errors, {len(warnings)} warnings")
    typer.echo(summary, err=True)
    if errors:
        raise typer.Exit(1)


def _resolve(flow_ref: str) -> Flow:
    path = Path(flow_ref)
    try:
        if path.suffix in (".yaml", ".yml") or path.is_file():
            if not path.is_file():
                fail(f"flow file not found: {flow_ref}")
            return load_flow(path)
        directory = get_settings().flows_dir
        for candidate in flow_files(directory) if directory.is_dir() else []:
            if candidate.stem == flow_ref:
                return load_flow(candidate)
        for candidate in flow_files(directory) if directory.is_dir() else []:
            flow, _ = check_flow_file(candidate)
            if flow is not None and flow.id == flow_ref:
                return flow
    except FlowError as exc:
        first = exc.problems[0] if exc.problems else "invalid flow"
        more = f" (and {len(exc.problems) - 1} more; run engage flows validate)" if len(
            exc.problems) > 1 else ""
        fail(f"{first}{more}")
    fail(f"unknown flow {flow_ref!r} (not a file, and no flow with that id in {directory})")


def _parse_context(items: list[str] | None, flow: Flow) -> dict[str, str]:
    context = {name: f"[{name}]" for name in context_names(flow)}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--context expects KEY=VALUE, got {item!r}")
        context[key.strip()] = value
    return context


def _print_bot(conversation: Conversation, start: int) -> None:
    for event in conversation.events[start:]:
        if isinstance(event, Say):
            console.print(f"[bold cyan]bot>[/] {escape(event.text)}", highlight=False)
            if event.options:
                buttons = "  ".join(f"[{o.value}] {o.label}" for o in event.options)
                console.print(f"     [dim]{escape(buttons)}[/]", highlight=False)


def _interactive(conversation: Conversation) -> None:
    console.print(f"[dim]Simulating {conversation.flow.id} v{conversation.flow.version}. "
                  f"Type replies; {WAIT} lets time pass, /quit stops.[/]")
    _print_bot(conversation, 0)
    while conversation.status == "waiting":
        try:
            text = input("you> ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        if text.strip() in ("/quit", "/exit"):
            break
        before = len(conversation.events)
        conversation.reply(text)
        _print_bot(conversation, before)
    console.print(f"[dim]status: {conversation.status}[/]")
    results = conversation.state.get("results") or {}
    if results:
        console.print_json(json.dumps(results, ensure_ascii=False))


@flows_app.command("simulate")
def simulate(
    flow_ref: Annotated[str, typer.Argument(metavar="FLOW", help="Flow id in flows/ or a path.")],
    lang: Annotated[str | None, typer.Option("--lang", help="Start language, e.g. es.")] = None,
    reply: Annotated[
        list[str] | None,
        typer.Option("--reply", help=f"A resident reply (repeatable; {WAIT} lets time pass)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    context: Annotated[
        list[str] | None,
        typer.Option("--context", help="Context field KEY=VALUE (repeatable)."),
    ] = None,
) -> None:
    """Play a flow in the terminal, or run scripted --reply values and print the transcript."""
    flow = _resolve(flow_ref)
    if lang is not None and lang not in flow.languages:
        fail(f"flow {flow.id!r} has no language {lang!r} (it has {', '.join(flow.languages)})")
    conversation = Conversation(flow, datetime.now(UTC))
    conversation.start(lang, _parse_context(context, flow))
    if reply is None and not as_json:
        _interactive(conversation)
        return
    for text in reply or []:
        if conversation.status != "waiting":
            break
        conversation.reply(text)
    if as_json:
        typer.echo(json.dumps(conversation.summary(), ensure_ascii=False, indent=2))
        return
    for line in conversation.transcript:
        who = "bot" if line["from"] == "bot" else "you"
        typer.echo(f"{who}> {line['text']}")
    typer.echo(f"status: {conversation.status}")
    typer.echo(json.dumps(conversation.summary()["results"], ensure_ascii=False))
