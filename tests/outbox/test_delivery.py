"""Delivery guarantees of the dispatcher (docs/OPERATIONS.md, "Delivery guarantees"): rows never
handed to the provider go back to pending; in-doubt rows are looked up before any resend (the
real twilio client against the fake REST API); stops release at once; outages are retried
within each kind's window, stale replies are dropped with a reason; one resident's messages
leave in queue order; one bad row does not lose a batch's record."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from engage.channels.base import Outbound, SendResult
from engage.channels.memory import MemorySender
from engage.channels.sms import ApiUrlHttpClient, TwilioSender
from engage.config import Settings
from engage.outbox import STALE_REPLY, Dispatcher
from engage.privacy import encrypt_address
from engage.storage.db import session_scope
from engage.storage.tables import Message, Outbox, Participant
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioAPI
from tests.outbox.test_dispatcher import _row, provider_opt_out

NUMBER = "+14105550123"


def _participant(engine: Engine, settings: Settings, number: str = NUMBER) -> int:
    with session_scope(engine) as session:
        p = Participant(key=f"k{number}", channel="sms",
                        address_enc=encrypt_address(settings.secret_bytes(), number))
        session.add(p)
        session.flush()
        assert p.id is not None
        return p.id


def _enqueue(engine: Engine, pid: int, now: datetime, body: str, *, kind: str = "reply",
             **extra: Any) -> int:
    """An outbox row due ``now`` (``extra``: e.g. ``attempted_at`` for one in doubt)."""
    with session_scope(engine) as session:
        row = Outbox(participant_id=pid, channel="sms", kind=kind, body=body,
                     dedupe_key=f"{kind}-{body}-{pid}", not_before=now, created_at=now, **extra)
        session.add(row)
        session.flush()
        return int(row.id or 0)


class LookupSender(MemorySender):
    """The in-memory twin with a provider-side lookup, like Twilio's Message list."""

    async def lookup(self, message: Outbound, since: datetime) -> list[SendResult]:
        return [SendResult(ok=True, provider_id=f"MEM{i + 1:08d}", status="sent")
                for i, m in enumerate(self.attempts)
                if m in self.sent and (m.address, m.text) == (message.address, message.text)]


def _dispatcher(engine: Engine, settings: Settings, clock: Any, sender: Any,
                **kw: Any) -> Dispatcher:
    return Dispatcher(engine=engine, settings=settings, senders={"sms": sender}, clock=clock,
                      provider_opt_out=provider_opt_out(engine, settings, clock),
                      rates={"sms": 0}, **kw)


async def test_in_doubt_row_found_at_the_provider_is_recorded_not_resent(
        db_engine: Engine, settings: Settings, clock: Any) -> None:
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock(), "Hello")
    sender = LookupSender(script=deque([SendResult(ok=False, error="transport: TimeoutError",
                                                   retry_after=2, in_doubt=True)]))
    sender.sent.append(Outbound(outbox_id=oid, channel="sms", address=NUMBER, text="Hello"))
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    assert await dispatcher.run_once() == 1  # timed out after the provider accepted it
    row = _row(db_engine, oid)
    assert (row.status, row.attempted_at) == ("pending", clock())
    clock.advance(seconds=60)
    assert await dispatcher.run_once() == 1
    row = _row(db_engine, oid)
    assert (row.status, row.provider_id, row.attempted_at) == ("sent", "MEM00000001", None)
    assert len(sender.attempts) == 1  # looked up, never sent again
    assert dispatcher.stats["found_in_doubt"] == 1


async def test_in_doubt_row_not_at_the_provider_is_sent_once(
        db_engine: Engine, settings: Settings, clock: Any) -> None:
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock(), "Hello", attempted_at=clock())
    sender = LookupSender()
    assert await _dispatcher(db_engine, settings, clock, sender).run_once() == 1
    assert [m.text for m in sender.sent] == ["Hello"]
    assert _row(db_engine, oid).status == "sent"


async def test_in_doubt_row_without_a_lookup_is_resent(db_engine: Engine, settings: Settings,
                                                      clock: Any) -> None:
    """Telegram has no message lookup: an in-doubt row is sent again (documented)."""
    from engage.channels.telegram import TelegramSender

    assert not hasattr(TelegramSender, "lookup")  # the Bot API cannot list sent messages
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock(), "Hello", attempted_at=clock())
    sender = MemorySender()
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    assert await dispatcher.run_once() == 1
    assert _row(db_engine, oid).status == "sent"
    assert dispatcher.stats["resent_in_doubt"] == 1


async def test_crash_mid_send_leaves_the_row_in_doubt_and_it_is_looked_up(
        db_engine: Engine, settings: Settings, clock: Any) -> None:
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock(), "Hello")
    sender = LookupSender(delay=30)
    crashed = _dispatcher(db_engine, settings, clock, sender, lease_seconds=30,
                          worker_id="crashed")
    task = asyncio.create_task(crashed.run_once())
    for _ in range(200):
        if _row(db_engine, oid).attempted_at is not None:
            break
        await asyncio.sleep(0.01)
    task.cancel()  # the process "died" with the request on the network
    clock.advance(seconds=31)
    fresh = LookupSender()
    assert await _dispatcher(db_engine, settings, clock, fresh).run_once() == 1
    assert [m.text for m in fresh.sent] == ["Hello"]  # the lookup found nothing: sent
    assert _row(db_engine, oid).status == "sent"


async def test_twilio_timeout_after_accepting_is_resolved_by_the_message_list(
        db_engine: Engine, settings: Settings, clock: Any, tmp_path: Path) -> None:
    """The real twilio client against the fake: accepted, answered after the client's
    timeout, looked up in the Message list filtered by To/From/DateSent: sent once."""
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock(), "How safe do you feel?")
    _enqueue(db_engine, pid, clock(), "Reply 1-5")
    with FakeTwilioAPI() as api:
        api.faults.stall_after_accept.append(1.0)
        twilio_settings = settings.model_copy(update={
            "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
            "twilio_from_number": "+14435550000", "twilio_api_url": api.url})
        sender = TwilioSender(twilio_settings,
                              http_client=ApiUrlHttpClient(api.url, timeout=0.3))
        dispatcher = _dispatcher(db_engine, settings, clock, sender)
        try:
            await dispatcher.run_once()
            row = _row(db_engine, oid)
            assert row.status == "pending" and row.attempted_at is not None
            clock.advance(seconds=30)
            await dispatcher.run_once()
            await dispatcher.run_once()
        finally:
            await sender.close()
        assert api.bodies_to(NUMBER) == ["How safe do you feel?", "Reply 1-5"]
        assert api.list_requests >= 1
        row = _row(db_engine, oid)
        assert row.status == "sent" and row.provider_id == api.messages[0].sid


async def test_stop_releases_what_was_not_handed_over(db_engine: Engine, settings: Settings,
                                                      clock: Any) -> None:
    pids = [_participant(db_engine, settings, f"+1410555{i:04d}") for i in range(4)]
    oids = [_enqueue(db_engine, pid, clock(), f"m{i}") for i, pid in enumerate(pids)]
    sender = MemorySender()
    dispatcher = Dispatcher(engine=db_engine, settings=settings, senders={"sms": sender},
                            provider_opt_out=provider_opt_out(db_engine, settings, clock),
                            clock=clock, rates={"sms": 1.0}, claim_seconds=4, pipelines=1)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run_forever(stop))
    for _ in range(200):
        if sender.sent:
            break
        await asyncio.sleep(0.01)
    started = asyncio.get_running_loop().time()
    stop.set()
    await asyncio.wait_for(task, 8)
    assert asyncio.get_running_loop().time() - started < 1.0  # nothing to drain: at once
    rows = [_row(db_engine, oid) for oid in oids]
    sent = [r for r in rows if r.status == "sent"]
    released = [r for r in rows if r.status == "pending"]
    assert len(sent) == len(sender.sent) >= 1 and len(sent) + len(released) == 4
    assert all((r.attempts, r.attempted_at, r.claimed_by) == (0, None, None) for r in released)


async def test_stop_drains_a_slow_send_then_leaves_it_in_doubt(
        db_engine: Engine, settings: Settings, clock: Any) -> None:
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock(), "Hello")
    sender = MemorySender(delay=30)
    dispatcher = _dispatcher(db_engine, settings, clock, sender, drain_seconds=0.3)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run_forever(stop))
    for _ in range(200):
        if _row(db_engine, oid).attempted_at is not None:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 3)
    row = _row(db_engine, oid)
    assert (row.status, row.claimed_by) == ("pending", None)
    assert row.attempted_at is not None  # in doubt: looked up before any resend


async def test_reply_is_retried_through_an_outage_until_it_is_stale(
        db_engine: Engine, settings: Settings, clock: Any) -> None:
    pid = _participant(db_engine, settings)
    oid = _enqueue(db_engine, pid, clock(), "Hello")
    down = [SendResult(ok=False, error="HTTP 500", retry_after=2) for _ in range(100)]
    sender = MemorySender(script=deque(down))
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    for _ in range(6):  # a 30-minute outage: still pending, attempts spread out
        await dispatcher.run_once()
        clock.advance(minutes=5)
    assert _row(db_engine, oid).status == "pending"
    sender.script.clear()
    clock.advance(minutes=5)
    await dispatcher.run_once()
    assert _row(db_engine, oid).status == "sent"
    late = _enqueue(db_engine, pid, clock(), "Late")
    clock.advance(seconds=settings.reply_max_age_seconds + 1)
    await dispatcher.run_once()
    row = _row(db_engine, late)
    assert (row.status, row.error) == ("cancelled", STALE_REPLY)


async def test_campaign_message_is_retried_for_the_retry_window(
        db_engine: Engine, settings: Settings, clock: Any) -> None:
    pid = _participant(db_engine, settings)
    clock.set(clock().replace(hour=16))  # noon in New York: no quiet hours
    oid = _enqueue(db_engine, pid, clock(), "Survey", kind="campaign")
    sender = MemorySender(script=deque(SendResult(ok=False, error="HTTP 500", retry_after=2)
                                       for _ in range(1000)))
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    for _ in range(4):
        await dispatcher.run_once()
        clock.advance(hours=2)
    assert _row(db_engine, oid).status == "pending"
    clock.advance(hours=24)
    await dispatcher.run_once()
    row = _row(db_engine, oid)
    assert row.status == "failed" and "gave up" in (row.error or "")


async def test_a_failing_provider_pauses_the_channel(db_engine: Engine, settings: Settings,
                                                     clock: Any) -> None:
    pids = [_participant(db_engine, settings, f"+1410555{i:04d}") for i in range(10)]
    for i, pid in enumerate(pids):
        _enqueue(db_engine, pid, clock(), f"m{i}")
    sender = MemorySender(script=deque(SendResult(ok=False, error="HTTP 500", retry_after=1)
                                       for _ in range(3)))
    dispatcher = _dispatcher(db_engine, settings, clock, sender, concurrency=1)
    assert await dispatcher.run_once() == 10
    assert len(sender.attempts) == 3  # the other seven were released, not tried
    assert await dispatcher.run_once() == 0  # paused
    clock.advance(seconds=3)  # the pause (2 s) and the three retries' backoff are over
    assert await dispatcher.run_once() == 10
    assert len(sender.sent) == 10 and len(sender.attempts) == 13


async def test_one_residents_messages_leave_in_order(db_engine: Engine, settings: Settings,
                                                     clock: Any) -> None:
    pid = _participant(db_engine, settings)
    oids = [_enqueue(db_engine, pid, clock(), f"part {i}") for i in range(3)]
    sender = MemorySender(script=deque([SendResult(ok=True, provider_id="A"),
                                        SendResult(ok=False, error="HTTP 500", retry_after=1)]))
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    assert await dispatcher.run_once() == 3
    assert [m.text for m in sender.attempts] == ["part 0", "part 1"]  # part 2 held back
    assert _row(db_engine, oids[2]).attempts == 0
    assert await dispatcher.run_once() == 0  # part 1 is retrying: part 2 may not overtake
    clock.advance(seconds=60)
    await dispatcher.run_once()
    assert [m.text for m in sender.sent] == ["part 0", "part 1", "part 2"]


async def test_order_per_resident_across_workers(db_engine: Engine, settings: Settings,
                                                 clock: Any) -> None:
    """Several workers, multi-message replies, random send times and failures: every
    resident receives their messages in queue order, each once."""
    rng = random.Random(3)

    class Jittery(MemorySender):
        async def send(self, message: Outbound) -> SendResult:
            await asyncio.sleep(rng.random() * 0.002)
            if rng.random() < 0.05:
                self.attempts.append(message)
                return SendResult(ok=False, error="HTTP 500", retry_after=0.01)
            return await super().send(message)

    sender = Jittery()
    residents = 170  # 2,040 replies
    numbers = [f"+1410556{i:04d}" for i in range(residents)]
    pids = [_participant(db_engine, settings, n) for n in numbers]
    for round_ in range(4):
        for i, pid in enumerate(pids):
            for part in range(3):
                _enqueue(db_engine, pid, clock(), f"r{round_} p{part} to {i}")
    workers = [_dispatcher(db_engine, settings, clock, sender, worker_id=f"w{i}",
                           backoff_base=0.001, backoff_cap=0.001) for i in range(3)]
    for _ in range(400):
        counts = await asyncio.gather(*(w.run_once(limit=50) for w in workers))
        if not any(counts):
            clock.advance(seconds=1)
            if not any(await asyncio.gather(*(w.run_once(limit=50) for w in workers))):
                break
    for i, number in enumerate(numbers):
        expected = [f"r{r} p{p} to {i}" for r in range(4) for p in range(3)]
        assert sender.texts_to(number) == expected
    assert len(sender.sent) == residents * 12


async def test_a_failing_row_in_a_recorded_batch_does_not_lose_the_others(
        db_engine: Engine, settings: Settings, clock: Any) -> None:
    """Two sends come back with the same provider id (the message table's unique key):
    the batch's transaction fails, each row is then recorded on its own, and both sends
    are recorded as sent (the second without its duplicate message row)."""
    pids = [_participant(db_engine, settings, f"+1410555{i:04d}") for i in range(5)]
    oids = [_enqueue(db_engine, pid, clock(), f"m{i}") for i, pid in enumerate(pids)]
    script = [SendResult(ok=True, provider_id=f"SM{i}", status="queued") for i in range(4)]
    script.append(SendResult(ok=True, provider_id="SM0", status="queued"))
    sender = MemorySender(script=deque(script))
    dispatcher = _dispatcher(db_engine, settings, clock, sender, concurrency=1)
    assert await dispatcher.run_once() == 5
    rows = [_row(db_engine, oid) for oid in oids]
    assert [r.status for r in rows] == ["sent"] * 5
    assert all(r.claimed_by is None or r.status == "sent" for r in rows)
    with session_scope(db_engine) as session:
        kept = session.exec(select(Message.provider_id)).all()
    assert sorted(pid or "" for pid in kept) == ["SM0", "SM1", "SM2", "SM3"]


@pytest.mark.parametrize("kind", ["campaign"])
async def test_held_campaign_row_does_not_hold_back_a_reply(
        db_engine: Engine, settings: Settings, clock: Any, kind: str) -> None:
    pid = _participant(db_engine, settings)
    clock.set(clock().replace(hour=3))  # 23:00 in New York: quiet hours
    _enqueue(db_engine, pid, clock(), "Survey", kind=kind)
    reply = _enqueue(db_engine, pid, clock(), "Thanks")
    sender = MemorySender()
    dispatcher = _dispatcher(db_engine, settings, clock, sender)
    await dispatcher.run_once()  # the campaign row is held...
    await dispatcher.run_once()  # ...and no longer stands before the reply
    assert _row(db_engine, reply).status == "sent"


async def test_rows_released_by_a_pause_keep_their_place(db_engine: Engine, settings: Settings,
                                                         clock: Any) -> None:
    """One worker's provider pause releases a resident's rows; another worker must still
    send them before anything queued later for that resident."""
    others = [_participant(db_engine, settings, f"+1410555{i:04d}") for i in range(3)]
    for i, pid in enumerate(others):
        _enqueue(db_engine, pid, clock(), f"o{i}")
    pid = _participant(db_engine, settings)
    _enqueue(db_engine, pid, clock(), "x1")
    _enqueue(db_engine, pid, clock(), "x2")
    failing = MemorySender(script=deque(SendResult(ok=False, error="HTTP 500", retry_after=1)
                                        for _ in range(3)))
    first = _dispatcher(db_engine, settings, clock, failing, concurrency=1, worker_id="a")
    assert await first.run_once() == 5
    assert [m.text for m in failing.attempts] == ["o0", "o1", "o2"]  # then paused: x released
    _enqueue(db_engine, pid, clock(), "x3")
    healthy = MemorySender()
    second = _dispatcher(db_engine, settings, clock, healthy, worker_id="b")
    await second.run_once()
    await second.run_once()
    assert healthy.texts_to(NUMBER) == ["x1", "x2", "x3"]


async def test_twilio_lookup_matches_recipient_sender_time_and_body(settings: Settings) -> None:
    """The Message list lookup through the real twilio client: only this resident, from our
    number, since the attempt, with this body (also as Twilio smart-encodes it)."""
    from datetime import UTC, timedelta

    from tests.fakes.twilio_api import SentMessage

    with FakeTwilioAPI() as api:
        now = datetime.now(UTC)
        for sid, to, body, from_, age in (
                ("SMa", NUMBER, "It's safe", "+14435550000", 0),      # smart-encoded form
                ("SMb", NUMBER, "It’s safe", "+14435550000", 600),    # too old
                ("SMc", "+14105550999", "It’s safe", "+14435550000", 0),  # someone else
                ("SMd", NUMBER, "It’s safe", "+14435559999", 0),      # another sender
                ("SMe", NUMBER, "Other text", "+14435550000", 0)):
            api.messages.append(SentMessage(sid=sid, to=to, body=body, from_=from_,
                                            messaging_service_sid=None, status_callback=None,
                                            smart_encoded="True",
                                            created=now - timedelta(seconds=age)))
        sender = TwilioSender(settings.model_copy(update={
            "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
            "twilio_from_number": "+14435550000", "twilio_api_url": api.url}))
        try:
            found = await sender.lookup(Outbound(outbox_id=1, channel="sms", address=NUMBER,
                                                 text="It’s safe"), now - timedelta(seconds=5))
        finally:
            await sender.close()
    assert [r.provider_id for r in found] == ["SMa"]
    assert found[0].ok and api.list_requests == 2


async def test_telegram_messages_to_one_resident_leave_in_order(
        db_engine: Engine, settings: Settings, clock: Any) -> None:
    with session_scope(db_engine) as session:
        p = Participant(key="tg1", channel="telegram",
                        address_enc=encrypt_address(settings.secret_bytes(), "123456789"))
        session.add(p)
        session.flush()
        for i in range(4):
            session.add(Outbox(participant_id=p.id, channel="telegram", body=f"t{i}",
                               dedupe_key=f"t{i}", not_before=clock(), created_at=clock()))
    script = deque([SendResult(ok=True, provider_id="1"),
                    SendResult(ok=False, error="5xx", retry_after=1)])
    sender = MemorySender(channel="telegram", script=script)
    workers = [Dispatcher(engine=db_engine, settings=settings, senders={"telegram": sender},
                          provider_opt_out=provider_opt_out(db_engine, settings, clock),
                          clock=clock, rates={"telegram": 0}, worker_id=f"w{i}")
               for i in range(2)]
    await asyncio.gather(*(w.run_once() for w in workers))
    clock.advance(seconds=30)
    for _ in range(3):
        await asyncio.gather(*(w.run_once() for w in workers))
    assert sender.texts_to("123456789") == ["t0", "t1", "t2", "t3"]
