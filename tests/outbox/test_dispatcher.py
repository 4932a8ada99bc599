"""The outbox dispatcher on SQLite and PostgreSQL: once-only sends, backoff, opt-outs,
quiet hours, leases and the token bucket. Senders are the in-memory twin (the Twilio sender
against the fake REST API is exercised in tests/web)."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from engage.channels.base import SendResult
from engage.channels.memory import MemorySender
from engage.config import Settings
from engage.flows_catalog import FlowCatalog
from engage.outbox import Dispatcher, ProviderOptOut
from engage.privacy import encrypt_address
from engage.runtime import Runtime
from engage.storage.db import session_scope
from engage.storage.tables import AuditEntry, ConsentEntry, Message, Outbox, Participant

NUMBER = "+14105550123"


def _participant(engine: Engine, settings: Settings, *, number: str = NUMBER,
                 opted_out: bool = False, tz: str | None = None) -> int:
    with session_scope(engine) as session:
        p = Participant(key=f"k{number}", channel="sms",
                        address_enc=encrypt_address(settings.secret_bytes(), number),
                        opted_out=opted_out, timezone=tz)
        session.add(p)
        session.flush()
        assert p.id is not None
        return p.id


def _enqueue(engine: Engine, participant_id: int, now: datetime, *, kind: str = "reply",
             body: str = "Hello", key: str | None = None) -> int:
    with session_scope(engine) as session:
        row = Outbox(participant_id=participant_id, channel="sms", kind=kind, body=body,
                     dedupe_key=key or f"{kind}-{body}-{participant_id}", not_before=now,
                     created_at=now)
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def _row(engine: Engine, outbox_id: int) -> Outbox:
    with session_scope(engine) as session:
        row = session.get(Outbox, outbox_id)
        assert row is not None
        return row


def provider_opt_out(engine: Engine, settings: Settings, clock: Any) -> ProviderOptOut:
    """The runtime's opt-out recorder, which every real dispatcher is given."""
    runtime = Runtime(engine=engine, settings=settings, catalog=FlowCatalog(settings.flows_dir),
                      clock=clock)
    return runtime.record_provider_opt_out


def _dispatcher(engine: Engine, settings: Settings, clock: Any, sender: MemorySender,
                **kw: Any) -> Dispatcher:
    return Dispatcher(engine=engine, settings=settings, senders={"sms": sender}, clock=clock,
                      provider_opt_out=provider_opt_out(engine, settings, clock),
                      rates={"sms": 0}, **kw)


async def test_sends_each_due_row_once_and_records_it(db_engine: Engine, settings: Settings,
                                                      clock: Any) -> None:
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock(), body="¿Cómo está?")
    sender = MemorySender()
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    assert await dispatcher.run_once() == 1
    assert await dispatcher.run_once() == 0
    assert [m.text for m in sender.sent] == ["¿Cómo está?"]
    assert sender.sent[0].address == NUMBER
    row = _row(db_engine, oid)
    assert (row.status, row.attempts, row.provider_id) == ("sent", 1, "MEM00000001")
    with session_scope(db_engine) as session:
        message = session.get(Message, row.message_id)
        assert message is not None
        assert (message.direction, message.encoding, message.segments) == ("out", "UCS-2", 1)
        assert message.provider_id == "MEM00000001"


async def test_future_rows_wait(db_engine: Engine, settings: Settings, clock: Any) -> None:
    pid = _participant(db_engine, settings)
    _enqueue(db_engine, pid, clock.advance(minutes=5))
    clock.advance(minutes=-5)
    dispatcher = _dispatcher(db_engine, settings, clock, MemorySender())
    assert await dispatcher.run_once() == 0


async def test_transient_failure_backs_off_then_sends_once(db_engine: Engine, settings: Settings,
                                                           clock: Any) -> None:
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock())
    sender = MemorySender(script=deque([SendResult(ok=False, error="HTTP 500", retry_after=2)]))
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    assert await dispatcher.run_once() == 1
    row = _row(db_engine, oid)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.not_before > clock()
    assert await dispatcher.run_once() == 0  # not due yet
    clock.advance(seconds=60)
    assert await dispatcher.run_once() == 1
    assert _row(db_engine, oid).status == "sent"
    assert len(sender.sent) == 1 and len(sender.attempts) == 2


async def test_permanent_failure_is_not_retried(db_engine: Engine, settings: Settings,
                                                clock: Any) -> None:
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock())
    sender = MemorySender(script=deque([SendResult(ok=False, error="HTTP 400", permanent=True,
                                                   error_code="21211")]))
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    await dispatcher.run_once()
    clock.advance(hours=1)
    assert await dispatcher.run_once() == 0
    row = _row(db_engine, oid)
    assert (row.status, row.attempts) == ("failed", 1)
    assert len(sender.attempts) == 1


async def test_gives_up_after_max_attempts(db_engine: Engine, settings: Settings,
                                           clock: Any) -> None:
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock())
    failures = [SendResult(ok=False, error="HTTP 503", retry_after=1) for _ in range(5)]
    sender = MemorySender(script=deque(failures))
    dispatcher = _dispatcher(db_engine, settings, clock, sender, max_attempts=3)
    for _ in range(5):
        await dispatcher.run_once()
        clock.advance(minutes=5)
    assert _row(db_engine, oid).status == "failed"
    assert len(sender.attempts) == 3


async def test_provider_opt_out_is_recorded_and_cancels_the_rest(
    db_engine: Engine, settings: Settings, clock: Any
) -> None:
    pid = _participant(db_engine, settings)
    first = _enqueue(db_engine, pid, clock(), body="one")
    later = _enqueue(db_engine, pid, clock.advance(seconds=30), body="two")
    confirmation = _enqueue(db_engine, pid, clock(), body="bye", kind="confirmation")
    clock.advance(seconds=-30)
    sender = MemorySender(script=deque([SendResult(ok=False, error="21610", error_code="21610",
                                                   permanent=True, opted_out=True)]))
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    await dispatcher.run_once()
    assert _row(db_engine, first).status == "failed"
    assert _row(db_engine, later).status == "cancelled"
    # the provider refuses everything now: a queued confirmation could not arrive either
    assert _row(db_engine, confirmation).status == "cancelled"
    with session_scope(db_engine) as session:
        participant = session.get(Participant, pid)
        assert participant is not None and participant.opted_out
        entries = session.exec(select(ConsentEntry).where(ConsentEntry.participant_id == pid))
        assert [(e.status, e.source) for e in entries] == [("opted_out", "twilio_21610")]
        audited = session.exec(select(AuditEntry.action)).all()
        assert audited.count("consent.opted_out") == 1


async def test_opted_out_participant_gets_only_confirmations(
    db_engine: Engine, settings: Settings, clock: Any
) -> None:
    pid = _participant(db_engine, settings, opted_out=True)
    reply = _enqueue(db_engine, pid, clock(), body="question")
    confirmation = _enqueue(db_engine, pid, clock(), body="You are unsubscribed",
                            kind="confirmation")
    sender = MemorySender()
    await _dispatcher(db_engine, settings, clock, sender).run_once()
    assert [m.text for m in sender.sent] == ["You are unsubscribed"]
    assert _row(db_engine, reply).status == "cancelled"
    assert _row(db_engine, confirmation).status == "sent"


async def test_quiet_hours_hold_campaigns_but_not_replies(
    db_engine: Engine, settings: Settings, clock: Any
) -> None:
    clock.set(datetime(2026, 7, 2, 3, 0, tzinfo=UTC))  # 23:00 in New York (EDT)
    pid = _participant(db_engine, settings, tz="America/New_York")
    campaign = _enqueue(db_engine, pid, clock(), kind="campaign", body="survey?")
    reminder = _enqueue(db_engine, pid, clock(), kind="reminder", body="reminder")
    reply = _enqueue(db_engine, pid, clock(), kind="reply", body="thanks")
    sender = MemorySender()
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    await dispatcher.run_once()
    assert [m.text for m in sender.sent] == ["thanks"]
    assert _row(db_engine, reply).status == "sent"
    held = _row(db_engine, campaign)
    assert held.status == "pending"
    assert held.not_before == datetime(2026, 7, 2, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert _row(db_engine, reminder).not_before == held.not_before
    clock.set(datetime(2026, 7, 2, 12, 0, tzinfo=UTC))
    await dispatcher.run_once()
    assert sorted(m.text for m in sender.sent) == ["reminder", "survey?", "thanks"]


async def test_concurrent_dispatchers_never_send_a_row_twice(
    db_engine: Engine, settings: Settings, clock: Any
) -> None:
    pids = [_participant(db_engine, settings, number=f"+1410555{i:04d}") for i in range(20)]
    for i in range(60):
        _enqueue(db_engine, pids[i % 20], clock(), body=f"m{i}")
    sender = MemorySender(delay=0.001)
    workers = [_dispatcher(db_engine, settings, clock, sender, worker_id=f"w{i}")
               for i in range(3)]
    for _ in range(5):
        await asyncio.gather(*(w.run_once(limit=10) for w in workers))
    texts = [m.text for m in sender.sent]
    assert sorted(texts) == sorted(f"m{i}" for i in range(60))
    assert len(texts) == len(set(texts))


async def test_expired_lease_of_a_row_never_handed_over_sends_it(
        db_engine: Engine, settings: Settings, clock: Any) -> None:
    """Claimed, then the worker died before sending: not in doubt, just pending again."""
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock())
    crashed = _dispatcher(db_engine, settings, clock, MemorySender(), worker_id="crashed",
                          lease_seconds=30)
    assert [r.id for r in crashed.claim(10)] == [oid]  # claimed, then the worker "dies"
    clock.advance(seconds=20)
    sender = MemorySender()
    assert await _dispatcher(db_engine, settings, clock, sender).run_once() == 0  # leased
    clock.advance(seconds=11)
    assert await _dispatcher(db_engine, settings, clock, sender).run_once() == 1
    assert [m.text for m in sender.sent] == ["Hello"]
    row = _row(db_engine, oid)
    assert (row.status, row.attempts, row.attempted_at) == ("sent", 1, None)


async def test_rate_limit_caps_rows_per_claim(db_engine: Engine, settings: Settings,
                                              clock: Any) -> None:
    pid = _participant(db_engine, settings)
    for i in range(10):
        _enqueue(db_engine, pid, clock(), body=f"m{i}")
    dispatcher = Dispatcher(engine=db_engine, settings=settings, senders={"sms": MemorySender()},
                            provider_opt_out=provider_opt_out(db_engine, settings, clock),
                            clock=clock, rates={"sms": 2}, lease_seconds=40)
    assert len(dispatcher.claim(100)) == 4  # what 2/s sends in claim_seconds (2 s)


async def test_run_forever_sends_and_stops(db_engine: Engine, settings: Settings,
                                           clock: Any) -> None:
    pid = _participant(db_engine, settings)
    sender = MemorySender()
    dispatcher = _dispatcher(db_engine, settings, clock, sender, poll_interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run_forever(stop))
    for i in range(5):
        _enqueue(db_engine, pid, clock(), body=f"m{i}")
    dispatcher.notify()
    for _ in range(200):  # bounded wait for the background loop
        if len(sender.sent) == 5:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert sorted(m.text for m in sender.sent) == [f"m{i}" for i in range(5)]


async def test_one_batch_records_each_outcome_on_its_own_row(db_engine: Engine,
                                                              settings: Settings,
                                                              clock: Any) -> None:
    """Sent, retried, failed and an erasure confirmation (its own address, kept while it is
    retried, dropped once it is done) in one claim and one record transaction."""
    sent, retried, failed = (
        _enqueue(db_engine, _participant(db_engine, settings, number=number), clock(), body=b,
                 key=b)
        for b, number in (("sent", NUMBER), ("retried", "+14105550124"),
                          ("failed", "+14105550125")))
    with session_scope(db_engine) as session:
        erased = Outbox(participant_id=None, channel="sms", kind="confirmation",
                        body="Erased", dedupe_key="erased", not_before=clock(),
                        created_at=clock(),
                        address_enc=encrypt_address(settings.secret_bytes(), "+14105550999"))
        session.add(erased)
        session.flush()
        assert erased.id is not None
        erased_id = erased.id
    sender = MemorySender(script=deque([
        SendResult(ok=True, provider_id="SM1", status="queued", segments=1, encoding="GSM-7"),
        SendResult(ok=False, error="HTTP 503"),
        SendResult(ok=False, error="HTTP 400", permanent=True, error_code="21211"),
        SendResult(ok=False, error="timeout"),
    ]))
    dispatcher = _dispatcher(db_engine, settings, clock, sender, concurrency=1)
    assert await dispatcher.run_once() == 4
    rows = {oid: _row(db_engine, oid) for oid in (sent, retried, failed, erased_id)}
    assert (rows[sent].status, rows[sent].provider_id, rows[sent].attempts) == ("sent", "SM1", 1)
    assert rows[sent].message_id is not None and rows[sent].sent_at == clock()
    assert (rows[retried].status, rows[retried].claimed_by, rows[retried].error) == (
        "pending", None, "HTTP 503")
    assert rows[retried].not_before > clock()
    assert (rows[failed].status, rows[failed].error, rows[failed].message_id) == (
        "failed", "HTTP 400", None)
    assert rows[erased_id].status == "pending" and rows[erased_id].address_enc is not None
    assert all(r.lease_until is None for r in rows.values())
    with session_scope(db_engine) as session:
        kept = session.exec(select(Message).order_by(Message.id)).all()  # type: ignore[arg-type]
        assert [(m.status, m.provider_id, m.error_code) for m in kept] == [
            ("queued", "SM1", None), ("failed", None, "21211")]
    clock.advance(seconds=3600)
    assert await dispatcher.run_once() == 2  # the two retries, now due
    erased_row = _row(db_engine, erased_id)
    assert (erased_row.status, erased_row.attempts, erased_row.address_enc) == ("sent", 2, None)
    assert sorted(m.address for m in sender.sent[-2:]) == ["+14105550124", "+14105550999"]
