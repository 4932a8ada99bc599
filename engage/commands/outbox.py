"""``engage outbox [--follow]``: what engage sent (or, without Twilio, would have sent),
with numbers masked. Reads the database, so it works beside a running ``engage serve``."""

from __future__ import annotations

import time
from typing import Any

import typer

from engage.commands.common import console, fail
from engage.config import ConfigError, get_settings

FINISHED = ("sent", "failed", "cancelled")


def register(app: typer.Typer) -> None:
    app.command("outbox")(outbox)


def _rows(engine: Any, secret: bytes, after: int, limit: int) -> list[dict[str, Any]]:
    from sqlmodel import col, select

    from engage.privacy import decrypt_address, mask
    from engage.storage.db import session_scope
    from engage.storage.models import Message, Outbox, Participant

    with session_scope(engine) as session:
        query = select(Outbox).where(col(Outbox.id) > after, col(Outbox.status).in_(FINISHED))
        if after:
            query = query.order_by(col(Outbox.id)).limit(limit)
        else:
            query = query.order_by(col(Outbox.id).desc()).limit(limit)
        rows = sorted(session.exec(query), key=lambda r: r.id or 0)
        result = []
        for row in rows:
            participant = session.get(Participant, row.participant_id) if row.participant_id \
                else None
            blob = row.address_enc or (participant.address_enc if participant else None)
            to = mask(decrypt_address(secret, blob)) if blob else "(erased)"
            message = session.get(Message, row.message_id) if row.message_id else None
            result.append({
                "id": row.id, "at": row.sent_at or row.created_at, "channel": row.channel,
                "kind": row.kind, "status": message.status if message and message.status
                else row.status, "to": to, "segments": message.segments if message else None,
                "text": row.body or "",
            })
        return result


def _print(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        at = row["at"].strftime("%H:%M:%S") if row["at"] else "--:--:--"
        seg = f" [{row['segments']} seg]" if row["segments"] else ""
        console.print(f"#{row['id']} {at} {row['channel']} {row['kind']} {row['status']} -> "
                      f"{row['to']}{seg}", style="bold", highlight=False, markup=False)
        console.print(f"  {row['text']}", highlight=False, markup=False)


def outbox(
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new messages."),
    limit: int = typer.Option(20, "--limit", help="How many recent messages to show first."),
    interval: float = typer.Option(1.0, "--interval", help="Seconds between checks (--follow)."),
) -> None:
    """Show outbound messages (the development outbox when Twilio is not configured)."""
    import sqlalchemy as sa

    from engage.commands.database import open_engine

    try:
        settings = get_settings()
        engine = open_engine()
        secret = settings.secret_bytes()
        rows = _rows(engine, secret, 0, limit)
    except ConfigError as exc:
        fail(str(exc))
    except sa.exc.OperationalError:
        fail("no engage database here (or it is unavailable): run `engage db upgrade` "
             "or check ENGAGE_DATABASE_URL / ENGAGE_DATA_DIR")
    if not settings.twilio_enabled:
        where = ("SMS stays on this machine; Telegram messages are really sent"
                 if settings.telegram_bot_token else "nothing leaves this machine")
        console.print(f"development outbox (TWILIO_* not set: {where})",
                      style="dim", highlight=False, markup=False)
    _print(rows)
    if not follow:
        if not rows:
            console.print("(no messages yet)", style="dim", markup=False)
        return
    printed = {row["id"] for row in rows}
    newest = floor = max(printed, default=0)
    try:
        while True:
            time.sleep(interval)
            new = [r for r in _rows(engine, secret, floor, 500) if r["id"] not in printed]
            _print(new)
            printed.update(r["id"] for r in new)
            newest = max(printed, default=newest)
            # a row still waiting (retry, quiet hours) is printed when it finishes
            floor = _unfinished_floor(engine, newest)
            printed = {i for i in printed if i > floor}
    except KeyboardInterrupt:
        return


def _unfinished_floor(engine: Any, newest: int) -> int:
    """Just below the oldest row not finished yet (or the newest printed id)."""
    from sqlmodel import col, func, select

    from engage.storage.db import session_scope
    from engage.storage.models import Outbox

    with session_scope(engine) as session:
        oldest = session.exec(select(func.min(Outbox.id)).where(
            col(Outbox.status).not_in(FINISHED))).one()
    return min(newest, oldest - 1) if oldest is not None else newest
