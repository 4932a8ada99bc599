"""Session reminders: 24 h and 2 h before, never after the start, outside quiet hours, none for a
cancelled session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sched_helpers import add_resident, make_ticks, number, reply, rows
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.runtime import Runtime
from engage.scheduling import dialogue
from engage.storage.db import session_scope
from tests.scheduling.dialogue.helpers import START, invite, make_session, residents


def test_reminders_24h_and_2h_never_after_start(db_engine: Engine, settings: Settings,
                                               rt: Runtime, clock: Any) -> None:
    ids = residents(db_engine, rt, clock, 3)
    sid = make_session(db_engine, settings, clock)
    invite(db_engine, rt, sid, clock)
    reply(rt, number(0), "yes", clock)
    reply(rt, number(1), "maybe", clock)
    reply(rt, number(2), "no", clock)
    ticks = make_ticks(db_engine, settings, rt)
    for moment in (START - timedelta(hours=30), START - timedelta(hours=24),
                   START - timedelta(hours=20), START - timedelta(hours=2),
                   START - timedelta(minutes=30), START, START + timedelta(hours=1)):
        clock.set(moment)
        ticks.dialogues(clock())
    reminders = [r for r in rows(db_engine, f"dialogue:{sid}:") if ":reminder:" in r.dedupe_key]
    got = sorted((r.participant_id, r.dedupe_key.rsplit(":", 1)[1], r.created_at)
                 for r in reminders)
    assert got == sorted([
        (ids[0], "24h", START - timedelta(hours=24)), (ids[0], "2h", START - timedelta(hours=2)),
        (ids[1], "24h", START - timedelta(hours=24)), (ids[1], "2h", START - timedelta(hours=2)),
    ])
    assert all(r.kind == "reminder" and r.not_before < START for r in reminders)


def test_reminders_respect_quiet_hours(db_engine: Engine, settings: Settings, rt: Runtime,
                                       clock: Any) -> None:
    residents(db_engine, rt, clock, 1, tz="America/New_York")
    nine = datetime(2026, 7, 3, 13, 0, tzinfo=UTC)  # 09:00 EDT: the 2h reminder falls at 07:00
    early = datetime(2026, 7, 4, 11, 30, tzinfo=UTC)  # 07:30 EDT: quiet until after the start
    late_sid = make_session(db_engine, settings, clock, start=nine)
    early_sid = make_session(db_engine, settings, clock, start=early, area="Hampden")
    for sid in (late_sid, early_sid):
        invite(db_engine, rt, sid, clock)
        reply(rt, number(0), "yes", clock)
    ticks = make_ticks(db_engine, settings, rt)
    for minutes in range(0, 50 * 60, 15):  # through both starts
        clock.set(datetime(2026, 7, 2, 10, 0, tzinfo=UTC) + timedelta(minutes=minutes))
        ticks.dialogues(clock())
    sent = [r for r in rows(db_engine, "dialogue:") if ":reminder:" in r.dedupe_key]
    for row in sent:
        local = row.not_before.astimezone(settings_zone(settings))
        assert not (local.hour >= 21 or local.hour < 8), row.dedupe_key
    two_hour = [r for r in sent if r.dedupe_key.endswith(":2h")]
    assert [r.dedupe_key.split(":")[1] for r in two_hour] == [str(late_sid)]
    assert two_hour[0].created_at == datetime(2026, 7, 3, 12, 0, tzinfo=UTC)  # 08:00 EDT


def settings_zone(settings: Settings) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(settings.timezone)


def test_no_reminders_for_a_cancelled_session(db_engine: Engine, settings: Settings,
                                              rt: Runtime, clock: Any) -> None:
    ids = residents(db_engine, rt, clock, 1)
    sid = make_session(db_engine, settings, clock)
    invite(db_engine, rt, sid, clock)
    reply(rt, number(0), "yes", clock)
    ids.append(add_resident(db_engine, rt, number(1), now=clock(), area="Hampden",
                            dialogue="granted"))
    invite(db_engine, rt, sid, clock, send=False)  # still queued when the session is cancelled
    ticks = make_ticks(db_engine, settings, rt)
    ticks.dialogues(clock())
    with session_scope(db_engine) as session:
        dialogue.cancel_session(session=session, session_id=sid, now=clock(),
                                settings=rt.settings)
    for hours in (24, 2):
        clock.set(START - timedelta(hours=hours))
        ticks.dialogues(clock())
    clock.set(START + timedelta(hours=4))
    ticks.dialogues(clock())
    mine = rows(db_engine, f"dialogue:{sid}:")
    assert not [r for r in mine if ":reminder:" in r.dedupe_key or ":feedback" in r.dedupe_key]
    assert [r.participant_id for r in mine if r.dedupe_key.endswith(":cancelled")] == [ids[0]]
    unanswered = [r for r in mine if r.participant_id == ids[1]]
    assert {r.status for r in unanswered} == {"cancelled"}  # the queued invitation is dropped
