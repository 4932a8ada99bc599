"""``engage audit verify|checkpoint|seal``: prove the audit log has not been altered, padded,
trimmed or rewritten."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from engage.commands.common import console, err_console, fail
from engage.config import ConfigError, get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from engage.audit_checkpoints import Checkpoint

audit_app = typer.Typer(help="The keyed, hash-chained audit log.", no_args_is_help=True)

URL_OPTION = typer.Option(None, "--url", help="Database URL (default: ENGAGE_DATABASE_URL).")


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _read_checkpoints(files: list[Path],
                      secret: bytes) -> tuple[list[Checkpoint], int, list[str]]:
    from engage import audit_checkpoints

    found: list[Checkpoint] = []
    forged = 0
    read_from: list[str] = []
    for path in files:
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                valid, bad = audit_checkpoints.read(handle, secret)
        except OSError as exc:
            fail(f"cannot read checkpoints from {path}: {exc.strerror}")
        found.extend(valid)
        forged += bad
        read_from.append(str(path))
    return found, forged, read_from


@audit_app.command("verify")
def verify_command(
    url: str | None = URL_OPTION,
    checkpoint: list[Path] = typer.Option(
        [], "--checkpoint",
        help="Also read checkpoints from this file (an export's .sha256 manifest, a log, a "
             "copy of the checkpoint file); repeatable."),
) -> None:
    """Exit 0 when the chain is intact and holds everything the latest signed checkpoint
    vouches for; exit 1 saying exactly what is missing or altered."""
    import sqlalchemy as sa
    from sqlmodel import Session

    from engage import audit, audit_checkpoints
    from engage.commands.db.connect import open_engine

    try:
        settings = get_settings()
        secret = settings.secret_bytes()
        engine = open_engine(url)
        files = [audit_checkpoints.path_for(settings)] if audit_checkpoints.path_for(
            settings).exists() else []
        found, forged, read_from = _read_checkpoints(files + list(checkpoint), secret)
        newest = audit_checkpoints.latest(found)
        with Session(engine) as session:
            result = audit.verify(session, key=audit.chain_key(secret))
            last_seq = result.head[0] if result.head else 0
            missing = (audit_checkpoints.compare(session, newest, last_seq)
                       if newest is not None and result.ok else None)
    except ConfigError as exc:
        fail(str(exc))
    except sa.exc.OperationalError as exc:
        fail(f"database unavailable: {type(exc.orig).__name__}")
    except sa.exc.ArgumentError as exc:
        fail(f"invalid database URL: {exc}")
    if forged:
        err_console.print(f"warning: {forged} checkpoint line(s) in {', '.join(read_from)} have "
                          "a wrong signature (forged, or signed with another "
                          "ENGAGE_SECRET_KEY) and were ignored", highlight=False, markup=False)
    if not result.ok:
        where = f" at entry seq={result.first_bad_seq}" if result.first_bad_seq else ""
        fail(f"audit log broken{where}: {result.reason}")
    if missing:
        fail(f"audit log incomplete: {missing}")
    legacy = f" ({result.legacy} written before keying, sealed)" if result.legacy else ""
    if newest is None:
        _say(f"audit log intact: {result.entries} entries{legacy}; no signed checkpoint found "
             "(looked in " + (", ".join(read_from) or str(audit_checkpoints.path_for(settings)))
             + "), so removal of the newest entries cannot be ruled out")
        return
    _say(f"audit log intact: {result.entries} entries{legacy}; holds the {newest.seq} entries "
         f"the checkpoint of {newest.at} vouches for")


@audit_app.command("checkpoint")
def checkpoint_command(url: str | None = URL_OPTION) -> None:
    """Sign the chain's current head into ENGAGE_DATA_DIR/audit/checkpoints.jsonl (and the
    log) and print the line (keep a copy elsewhere, too)."""
    from engage import audit_checkpoints
    from engage.clock import utcnow
    from engage.commands.db.connect import open_engine

    try:
        settings = get_settings()
        taken = audit_checkpoints.take(open_engine(url), settings, now=utcnow())
    except ConfigError as exc:
        fail(str(exc))
    typer.echo(taken.line())


@audit_app.command("seal")
def seal_command(url: str | None = URL_OPTION) -> None:
    """Seal a chain written before entries were keyed (``engage db upgrade`` does it too)."""
    from engage.commands.db.connect import open_engine

    try:
        sealed = seal_chain(open_engine(url))
    except ConfigError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc))
    _say(f"sealed {sealed} unkeyed entries" if sealed else "nothing to seal: the chain is keyed")


def seal_chain(engine: Engine) -> int:
    """Seal legacy entries in their own transaction (``engage db upgrade``, ``engage serve``)."""
    from sqlmodel import Session

    from engage import audit
    from engage.clock import utcnow

    with Session(engine) as session:
        sealed = audit.seal_legacy(session, now=utcnow())
        session.commit()
    return sealed


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
