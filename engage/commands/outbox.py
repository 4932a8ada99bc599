"""``engage outbox [--follow]``: what engage sent (or, without Twilio, would have sent), and
what is still waiting (pending, held for quiet hours, retrying, in doubt), with numbers
masked; ``engage outbox requeue`` puts failed rows back. Reads the database, so it works
beside a running ``engage serve``."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from engage.commands.common import console, fail
from engage.config import ConfigError, get_settings

FINISHED = ("sent", "failed", "cancelled")
WAITING = ("pending", "claimed")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_RELATIVE = re.compile(r"^(\d+)\s*([mhd])$")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Show outbound messages; requeue failed ones.",
                        invoke_without_command=True, no_args_is_help=False)
    group.callback(invoke_without_command=True)(outbox)
    group.command("requeue")(requeue)
    app.add_typer(group, name="outbox")


def _rows(engine: Any, secret: bytes, after: int, limit: int) -> list[dict[str, Any]]:
    from sqlmodel import col, select

    from engage.privacy import decrypt_address, mask
    from engage.storage.db import session_scope
    from engage.storage.tables import Message, Outbox, Participant

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
    ctx: typer.Context,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new messages."),
    limit: int = typer.Option(20, "--limit", help="How many recent messages to show first."),
    interval: float = typer.Option(1.0, "--interval", help="Seconds between checks (--follow)."),
) -> None:
    """Show outbound messages (the development outbox when Twilio is not configured), then
    those still waiting: pending, held for quiet hours, retrying, in doubt."""
    import sqlalchemy as sa

    if ctx.invoked_subcommand is not None:
        return
    from engage.commands.db.connect import open_engine

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
        _print_waiting(_waiting(engine, secret, limit))
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
    from engage.storage.tables import Outbox

    with session_scope(engine) as session:
        oldest = session.exec(select(func.min(Outbox.id)).where(
            col(Outbox.status).not_in(FINISHED))).one()
    return min(newest, oldest - 1) if oldest is not None else newest


def _waiting(engine: Any, secret: bytes, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """How many rows are not finished, and the oldest ``limit`` of them, described."""
    from sqlmodel import col, func, select

    from engage.clock import utcnow
    from engage.privacy import decrypt_address, mask
    from engage.storage.db import session_scope
    from engage.storage.tables import Outbox, Participant

    now = utcnow()
    with session_scope(engine) as session:
        total = session.exec(select(func.count()).select_from(Outbox).where(
            col(Outbox.status).in_(WAITING))).one()
        rows = session.exec(select(Outbox).where(col(Outbox.status).in_(WAITING))
                            .order_by(col(Outbox.id)).limit(limit)).all()
        result = []
        for row in rows:
            participant = session.get(Participant, row.participant_id) if row.participant_id \
                else None
            blob = row.address_enc or (participant.address_enc if participant else None)
            result.append({"id": row.id, "channel": row.channel, "kind": row.kind,
                           "state": _state(row, now), "error": row.error,
                           "to": mask(decrypt_address(secret, blob)) if blob else "(erased)",
                           "text": row.body or ""})
        return int(total), result


def _state(row: Any, now: datetime) -> str:
    """pending, claimed, in doubt, retrying (attempt n, next at), or held until."""
    due = row.not_before.astimezone(UTC).strftime("%H:%M:%S") if row.not_before else "now"
    if row.status == "claimed":
        return "claimed (sending)"
    if row.attempted_at is not None:
        return f"in doubt (looked up before resending at {due})"
    if row.attempts:
        return f"retrying (attempt {row.attempts + 1} at {due})"
    if row.not_before and row.not_before > now:
        return f"held until {due}"
    return "pending"


def _print_waiting(waiting: tuple[int, list[dict[str, Any]]]) -> None:
    total, rows = waiting
    if not total:
        console.print("nothing waiting to be sent", style="dim", markup=False)
        return
    console.print(f"waiting: {total} (oldest first)", style="bold", markup=False)
    for row in rows:
        console.print(f"#{row['id']} {row['channel']} {row['kind']} {row['state']} -> "
                      f"{row['to']}", highlight=False, markup=False)
        if row["error"]:
            console.print(f"  last error: {row['error']}", highlight=False, markup=False)
        console.print(f"  {row['text']}", highlight=False, markup=False)


def parse_since(value: str, now: datetime) -> datetime:
    """``2h``, ``30m``, ``1d`` ago, or an ISO date/time (UTC unless it says otherwise)."""
    match = _RELATIVE.match(value.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"--failed-since must be like 2h, 30m, 1d or 2026-12-05T09:00, "
                         f"got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def requeue(
    failed_since: str | None = typer.Option(
        None, "--failed-since", help="Failed rows created since: 2h, 30m, 1d or an ISO time."),
    ids: list[int] = typer.Option([], "--id", help="A failed row's id (repeatable)."),
) -> None:
    """Put failed rows back in the queue (for example after a provider outage). Replies
    older than ENGAGE_REPLY_MAX_AGE are left alone: they would make no sense now."""
    import sqlalchemy as sa

    from engage.clock import utcnow
    from engage.commands.db.connect import open_engine

    if failed_since is None and not ids:
        fail("say which rows: --failed-since 2h (or an ISO time) and/or --id N")
    now = utcnow()
    try:
        since = parse_since(failed_since, now) if failed_since is not None else None
        settings = get_settings()
        engine = open_engine()
        done = requeue_rows(engine, since=since, ids=ids, now=now,
                            reply_max_age=timedelta(seconds=settings.reply_max_age_seconds))
    except (ValueError, ConfigError) as exc:
        fail(str(exc))
    except sa.exc.OperationalError:
        fail("no engage database here (or it is unavailable): check ENGAGE_DATABASE_URL")
    requeued, stale, missing = done
    console.print(f"requeued {len(requeued)} failed rows"
                  + (f"; {len(stale)} replies too old to make sense were left failed"
                     if stale else "")
                  + (f"; not failed or not found: {', '.join(map(str, missing))}"
                     if missing else ""), highlight=False, markup=False)


def requeue_rows(engine: Any, *, since: datetime | None, ids: list[int], now: datetime,
                 reply_max_age: timedelta) -> tuple[list[int], list[int], list[int]]:
    """Failed rows (created since ``since`` and/or with these ids) back to pending, with a
    fresh attempt count; returns (requeued, stale replies left alone, ids not failed)."""
    from sqlmodel import col, select

    from engage import audit
    from engage.storage.db import session_scope
    from engage.storage.tables import Outbox

    with session_scope(engine) as session:
        query = select(Outbox).where(col(Outbox.status) == "failed")
        if since is not None:
            query = query.where(col(Outbox.created_at) >= since)
        if ids:
            query = query.where(col(Outbox.id).in_(ids))
        rows = session.exec(query.order_by(col(Outbox.id))).all()
        requeued: list[int] = []
        stale: list[int] = []
        for row in rows:
            assert row.id is not None
            if row.kind == "reply" and now - row.created_at > reply_max_age:
                stale.append(row.id)
                continue
            row.status, row.not_before, row.attempts = "pending", now, 0
            row.claimed_by, row.lease_until, row.attempted_at = None, None, None
            row.error = f"requeued after: {row.error or 'failed'}"[:300]
            session.add(row)
            requeued.append(row.id)
        if requeued:
            audit.append(session=session, actor="cli", action="outbox.requeue",
                         details={"count": len(requeued), "first": requeued[0],
                                  "last": requeued[-1]}, now=now)
        found = {row.id for row in rows}
        return requeued, stale, [i for i in ids if i not in found]
