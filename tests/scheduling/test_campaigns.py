"""Campaigns on SQLite and PostgreSQL with an injected clock: audience, throttle, quiet hours
across zones and a DST change, reminders, cutoff, quotas, restarts and opt-outs."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sched_helpers import (
    add_resident,
    deliver,
    make_runtime,
    make_ticks,
    number,
    opt_out,
    reply,
    rows,
)
from sqlalchemy import event as sa_event
from sqlalchemy import update as sa_update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from engage.config import Settings
from engage.errors import UserError
from engage.runtime import Runtime
from engage.scheduling import campaigns
from engage.scheduling.audience import materialize, parse_audience
from engage.scheduling.clock import is_quiet
from engage.storage.db import make_engine, session_scope
from engage.storage.models import Participant, Run
from engage.storage.scheduling_models import CampaignRecipient


@pytest.fixture
def rt(db_engine: Engine, settings: Settings, clock: Any, tmp_path: Path) -> Runtime:
    return make_runtime(db_engine, settings, clock, tmp_path)


def create(engine: Engine, settings: Settings, rt: Runtime, clock: Any, **kw: Any) -> int:
    kw.setdefault("flow_id", "poll")
    with session_scope(engine) as session:
        campaign = campaigns.create_campaign(session=session, settings=settings, now=clock(),
                                             known_flows=rt.catalog, participants=rt, **kw)
        assert campaign.id is not None
        return campaign.id


def invited_ids(engine: Engine, cid: int) -> list[int]:
    """Participants who got an invitation row (with repeats, to catch duplicates)."""
    return [r.participant_id for r in rows(engine, f"campaign:{cid}:")
            if ":invite" in r.dedupe_key and r.participant_id is not None]


def progress(engine: Engine, cid: int) -> campaigns.CampaignProgress:
    with session_scope(engine) as session:
        return campaigns.campaign_progress(session=session, campaign_id=cid)


def test_campaign_reaches_exactly_its_audience(db_engine: Engine, settings: Settings,
                                               rt: Runtime, clock: Any) -> None:
    now = clock()
    hampden = [add_resident(db_engine, rt, number(i), now=now, area="Hampden",
                            district="Northern") for i in range(3)]
    tg = add_resident(db_engine, rt, "123456789", channel="telegram", now=now, area="hampden",
                      district="Northern")
    canton = add_resident(db_engine, rt, number(10), now=now, area="Canton",
                          district="Southeastern", language="es")
    add_resident(db_engine, rt, number(11), now=now, area="Hampden", opted_out=True)
    add_resident(db_engine, rt, number(12), now=now, area="Hampden", surveys=None)
    add_resident(db_engine, rt, number(13), now=now, area="Hampden", surveys="withdrawn")
    ticks = make_ticks(db_engine, settings, rt)

    by_area = create(db_engine, settings, rt, clock, audience="area:Hampden")
    by_district = create(db_engine, settings, rt, clock, audience="district:southeastern")
    by_language = create(db_engine, settings, rt, clock, audience="language:es")
    everyone = create(db_engine, settings, rt, clock, audience="all")
    ticks.campaigns(clock())

    assert sorted(invited_ids(db_engine, by_area)) == sorted([*hampden, tg])
    assert invited_ids(db_engine, by_district) == [canton]
    assert invited_ids(db_engine, by_language) == [canton]
    assert sorted(invited_ids(db_engine, everyone)) == sorted([*hampden, tg, canton])
    assert progress(db_engine, by_area).count("invited") == 4
    assert {r.channel for r in rows(db_engine, f"campaign:{by_area}:")} == {"sms", "telegram"}
    assert {r.kind for r in rows(db_engine, "campaign:")} == {"campaign"}


def test_past_participation_audience(db_engine: Engine, settings: Settings, rt: Runtime,
                                     clock: Any) -> None:
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(3)]
    first = create(db_engine, settings, rt, clock)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    reply(rt, number(0), "yes", clock)  # completes the one-question poll
    reply(rt, number(1), "no", clock)  # also completes it
    ticks.campaigns(clock())
    assert progress(db_engine, first).count("completed") == 2
    again = create(db_engine, settings, rt, clock, audience="participated:poll")
    ticks.campaigns(clock())
    assert sorted(invited_ids(db_engine, again)) == sorted(ids[:2])


def test_csv_audience_normalizes_numbers_and_honours_opt_out(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any, tmp_path: Path) -> None:
    stopped = add_resident(db_engine, rt, "+14105550002", now=clock(), opted_out=True)
    refused = add_resident(db_engine, rt, "+14105550003", now=clock(), surveys="declined")
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("name,phone\nA,(410) 555-0001\nB,410.555.0002\nC,+1 410 555 0003\n"
                        "D,not a number\nE,410-555-0001\n")
    cid = create(db_engine, settings, rt, clock, audience=f"csv:{csv_file}")
    make_ticks(db_engine, settings, rt).campaigns(clock())
    invited = invited_ids(db_engine, cid)
    assert len(invited) == 1 and invited[0] not in (stopped, refused)
    report = progress(db_engine, cid)
    assert (report.total, report.count("opted_out"), report.count("skipped")) == (3, 1, 1)
    assert all(r.participant_id == invited[0] for r in rows(db_engine, "campaign:"))


def test_bad_options_are_refused(db_engine: Engine, settings: Settings, rt: Runtime,
                                 clock: Any) -> None:
    with pytest.raises(UserError, match="unknown flow"):
        create(db_engine, settings, rt, clock, flow_id="nope")
    with pytest.raises(UserError, match="cutoff"):
        create(db_engine, settings, rt, clock, cutoff_at=clock() - timedelta(hours=1))
    with pytest.raises(UserError, match="throttle"):
        create(db_engine, settings, rt, clock, throttle_per_minute=0)


def test_throttle_and_quiet_hours_across_zones_and_dst(db_engine: Engine, settings: Settings,
                                                       rt: Runtime, clock: Any) -> None:
    # 03:00 UTC on 2026-03-08 is 22:00 EST in New York (quiet) and 19:00 PST in Los Angeles.
    # New York springs forward that night, so its quiet hours end at 08:00 EDT = 12:00 UTC.
    clock.set(datetime(2026, 3, 8, 3, 0, tzinfo=UTC))
    zones = {"America/New_York": 6, "America/Los_Angeles": 6}
    people: dict[int, str] = {}
    i = 0
    for tz, count in zones.items():
        for _ in range(count):
            people[add_resident(db_engine, rt, number(i), now=clock(), tz=tz)] = tz
            i += 1
    cid = create(db_engine, settings, rt, clock, throttle_per_minute=2)
    ticks = make_ticks(db_engine, settings, rt)
    base = clock()
    evening = [base + timedelta(minutes=m) for m in range(10)]  # every minute
    night = [base + timedelta(minutes=30 * k) for k in range(1, 17)]  # every half hour
    morning = [datetime(2026, 3, 8, 11, 30, tzinfo=UTC) + timedelta(minutes=m)
               for m in range(41)]  # every minute, 11:30-12:10 UTC
    for moment in [*evening, *night, *morning]:
        clock.set(moment)
        ticks.campaigns(clock())

    sent = rows(db_engine, f"campaign:{cid}:")
    assert sorted(invited_ids(db_engine, cid)) == sorted(people)  # everyone, once
    per_minute = Counter(r.created_at.replace(second=0, microsecond=0) for r in sent)
    assert max(per_minute.values()) <= 2
    for row in sent:
        tz = people[row.participant_id or 0]
        assert not is_quiet(row.not_before, tz, settings.quiet_window), (tz, row.not_before)
    ny_first = min(r.created_at for r in sent if people[r.participant_id or 0].endswith("York"))
    assert ny_first == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT, not 08:00 EST


def test_reminders_only_to_non_responders(db_engine: Engine, settings: Settings, clock: Any,
                                          tmp_path: Path) -> None:
    from engage.flows_catalog import FlowCatalog

    rt = Runtime(engine=db_engine, settings=settings, catalog=FlowCatalog(settings.flows_dir),
                 clock=clock)
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(4)]
    cid = create(db_engine, settings, rt, clock, flow_id="satisfaction", reminders=2,
                 reminder_after_hours=4)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    reply(rt, number(0), "yes", clock)  # consents: started, not finished
    reply(rt, number(1), "no", clock)  # declines
    opt_out(rt, number(2), clock)  # opts out
    for _ in range(4):
        clock.advance(hours=4)
        ticks.campaigns(clock())
    reminders = [r for r in rows(db_engine, f"campaign:{cid}:") if ":reminder:" in r.dedupe_key]
    assert [r.participant_id for r in reminders] == [ids[3], ids[3]]  # two, then no more
    assert [r.kind for r in reminders] == ["reminder", "reminder"]
    report = progress(db_engine, cid)
    assert report.count("started") == 1 and report.count("declined") == 1
    assert report.count("opted_out") == 1 and report.count("invited") == 1


def test_cutoff_holds(db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    for i in range(6):
        add_resident(db_engine, rt, number(i), now=clock())
    start = clock()
    cid = create(db_engine, settings, rt, clock, throttle_per_minute=1,
                 cutoff_at=start + timedelta(minutes=3), reminders=1, reminder_after_hours=0.05)
    ticks = make_ticks(db_engine, settings, rt)
    for _ in range(10):
        ticks.campaigns(clock())
        clock.advance(minutes=1)
    sent = rows(db_engine, f"campaign:{cid}:")
    assert all(r.created_at < start + timedelta(minutes=3) for r in sent)
    assert len(invited_ids(db_engine, cid)) == 3
    report = progress(db_engine, cid)
    assert report.status == "finished" and report.count("skipped") == 3


def test_quota_stops_the_campaign(db_engine: Engine, settings: Settings, rt: Runtime,
                                  clock: Any) -> None:
    for i in range(5):
        add_resident(db_engine, rt, number(i), now=clock())
    cid = create(db_engine, settings, rt, clock, quota=2, throttle_per_minute=3, reminders=1,
                 reminder_after_hours=1)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    reply(rt, number(0), "yes", clock)
    reply(rt, number(1), "yes", clock)
    clock.advance(hours=2)
    ticks.campaigns(clock())
    report = progress(db_engine, cid)
    assert report.status == "finished" and report.count("completed") == 2
    assert len(invited_ids(db_engine, cid)) == 3  # the last two never invited
    assert not [r for r in rows(db_engine, f"campaign:{cid}:") if ":reminder:" in r.dedupe_key]


def test_quota_per_area(db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    for i in range(3):
        add_resident(db_engine, rt, number(i), now=clock(), area="Hampden")
    for i in range(3, 6):
        add_resident(db_engine, rt, number(i), now=clock(), area="Canton")
    cid = create(db_engine, settings, rt, clock, quota=1, quota_per_area=True,
                 throttle_per_minute=2)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())  # one Hampden resident (id order), then a second
    reply(rt, number(0), "yes", clock)
    clock.advance(minutes=2)
    ticks.campaigns(clock())
    with session_scope(db_engine) as session:
        recipients = session.exec(select(CampaignRecipient).where(
            CampaignRecipient.campaign_id == cid)).all()
        skipped = {r.area for r in recipients if r.status == "skipped"}
    assert skipped == {"Hampden"}
    assert progress(db_engine, cid).status == "running"


def test_restart_mid_campaign_no_duplicate_nothing_missed(
        db_engine: Engine, db_url: str, settings: Settings, clock: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    rt = make_runtime(db_engine, settings, clock, tmp_path)
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(10)]
    cid = create(db_engine, settings, rt, clock, throttle_per_minute=2)
    make_ticks(db_engine, settings, rt).campaigns(clock())
    clock.advance(minutes=1)

    # the scheduler dies in the middle of a batch: that transaction never commits
    calls = {"n": 0}
    real = Runtime.start_run

    def dying(self: Runtime, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(self, **kw)

    monkeypatch.setattr(Runtime, "start_run", dying)
    with pytest.raises(KeyboardInterrupt):
        make_ticks(db_engine, settings, rt).campaigns(clock())
    monkeypatch.setattr(Runtime, "start_run", real)
    assert len(invited_ids(db_engine, cid)) == 2

    # down for ten minutes; a new process (new engine, new runtime) takes over
    clock.advance(minutes=10)
    engine2 = make_engine(db_url)
    try:
        rt2 = make_runtime(engine2, settings, clock, tmp_path / "second")
        ticks2 = make_ticks(engine2, settings, rt2)
        for _ in range(6):
            ticks2.campaigns(clock())
            clock.advance(minutes=1)
    finally:
        engine2.dispose()
    invited = invited_ids(db_engine, cid)
    assert sorted(invited) == sorted(ids)  # nothing missed, nothing twice
    with session_scope(db_engine) as session:
        runs = session.exec(select(Run.participant_id).where(Run.campaign_id == cid)).all()
    assert sorted(runs) == sorted(ids)


def test_two_tick_runners_at_once_never_duplicate(db_engine: Engine, db_url: str,
                                                  settings: Settings, clock: Any,
                                                  tmp_path: Path) -> None:
    rt = make_runtime(db_engine, settings, clock, tmp_path)
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(40)]
    cid = create(db_engine, settings, rt, clock)
    engines = [make_engine(db_url), make_engine(db_url)]
    errors: list[BaseException] = []

    def work(engine: Engine, n: int) -> None:
        try:
            runtime = make_runtime(engine, settings, clock, tmp_path / f"w{n}")
            for _ in range(3):
                campaigns.run_campaigns(engine=engine, starter=runtime, settings=settings,
                                        now=clock(), batch=7, parallel=3)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e, n)) for n, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    assert not errors
    assert sorted(invited_ids(db_engine, cid)) == sorted(ids)


def test_opted_out_residents_get_nothing(db_engine: Engine, settings: Settings, rt: Runtime,
                                         clock: Any) -> None:
    before = add_resident(db_engine, rt, number(1), now=clock(), opted_out=True)
    add_resident(db_engine, rt, number(2), now=clock())
    after = add_resident(db_engine, rt, number(3), now=clock())
    cid = create(db_engine, settings, rt, clock, throttle_per_minute=1, reminders=2,
                 reminder_after_hours=1)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())  # invites number(2) only (throttle 1/min)
    opt_out(rt, number(3), clock)  # opts out while still pending
    for _ in range(6):
        clock.advance(hours=1)
        ticks.campaigns(clock())
    for pid in (before, after):
        assert not [r for r in rows(db_engine) if r.participant_id == pid
                    and r.kind in ("campaign", "reminder", "invitation")]
    report = progress(db_engine, cid)  # the one opted out before never was in the audience
    assert (report.total, report.count("opted_out")) == (2, 1)


def test_pause_holds_and_cancel_drops(db_engine: Engine, settings: Settings, rt: Runtime,
                                      clock: Any) -> None:
    for i in range(4):
        add_resident(db_engine, rt, number(i), now=clock())
    cid = create(db_engine, settings, rt, clock, throttle_per_minute=2)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    with session_scope(db_engine) as session:
        campaigns.pause_campaign(session=session, campaign_id=cid, now=clock())
    assert {r.status for r in rows(db_engine, f"campaign:{cid}:")} == {"held"}
    clock.advance(minutes=5)
    ticks.campaigns(clock())
    assert len(invited_ids(db_engine, cid)) == 2
    with session_scope(db_engine) as session:
        campaigns.start_campaign(session=session, campaign_id=cid, now=clock())
    assert {r.status for r in rows(db_engine, f"campaign:{cid}:")} == {"pending"}
    ticks.campaigns(clock())
    assert len(invited_ids(db_engine, cid)) == 4
    with session_scope(db_engine) as session:
        campaigns.cancel_campaign(session=session, campaign_id=cid, now=clock())
        with pytest.raises(UserError):
            campaigns.start_campaign(session=session, campaign_id=cid, now=clock())
    assert {r.status for r in rows(db_engine, f"campaign:{cid}:")} == {"cancelled"}


def test_missed_start_is_done_on_return_unless_past_cutoff(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    add_resident(db_engine, rt, number(1), now=clock())
    start = clock() + timedelta(hours=1)
    late = create(db_engine, settings, rt, clock, start_at=start)
    expired = create(db_engine, settings, rt, clock, start_at=start,
                     cutoff_at=start + timedelta(hours=1))
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    assert not rows(db_engine, "campaign:")  # not started yet
    clock.advance(hours=3)  # the scheduler was down through both windows
    ticks.campaigns(clock())
    assert len(invited_ids(db_engine, late)) == 1
    assert invited_ids(db_engine, expired) == []
    assert progress(db_engine, expired).status == "finished"
    with session_scope(db_engine) as session:
        assert session.exec(select(col(Run.id))).all()


def test_run_expiry_stops_reminders_and_ends_the_run(db_engine: Engine, settings: Settings,
                                                     rt: Runtime, clock: Any) -> None:
    pid = add_resident(db_engine, rt, number(1), now=clock())
    cid = create(db_engine, settings, rt, clock, reminders=3, reminder_after_hours=2,
                 run_expiry_hours=3)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    for _ in range(3):  # daytime in New York throughout
        clock.advance(hours=2)
        ticks.campaigns(clock())
    reminders = [r for r in rows(db_engine, f"campaign:{cid}:") if ":reminder:" in r.dedupe_key]
    assert len(reminders) == 1  # at 2 h; by 4 h the run had expired
    report = progress(db_engine, cid)
    assert report.count("expired") == 1 and report.status == "finished"
    with session_scope(db_engine) as session:
        run = session.exec(select(Run).where(Run.participant_id == pid)).one()
    assert run.status == "expired"


def _statements(engine: Engine) -> tuple[list[str], Any]:
    """The SQL the ORM runs on ``engine`` (the hot path's statements bypass these events)."""
    seen: list[str] = []

    def record(_c: object, _cur: object, statement: str, *_a: object) -> None:
        seen.append(" ".join(statement.split()))

    sa_event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: sa_event.remove(engine, "before_cursor_execute", record)


def test_a_batch_locks_its_residents_at_once_and_updates_them_together(
    db_engine: Engine, settings: Settings, rt: Runtime, clock: Any,
) -> None:
    """One statement locks (PostgreSQL) a batch's residents, none per resident, and the
    recipients' new statuses go out as one UPDATE for the batch."""
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(12)]
    cid = create(db_engine, settings, rt, clock)
    seen, stop = _statements(db_engine)
    try:
        campaigns.run_campaigns(engine=db_engine, starter=rt, settings=settings, now=clock(),
                                batch=5)
    finally:
        stop()
    assert sorted(invited_ids(db_engine, cid)) == sorted(ids)
    batches = 3  # 5 + 5 + 2 residents
    reads = [sql for sql in seen if sql.startswith("SELECT participant.id, participant.key")]
    assert len(reads) == (batches if db_engine.dialect.name == "postgresql" else 0)
    assert all("FOR UPDATE OF participant" in sql for sql in reads)
    one_row = ("WHERE campaign_recipient.id = ?",
               "WHERE campaign_recipient.id = %(campaign_recipient_id)s::INTEGER")
    updates = [sql for sql in seen if sql.startswith("UPDATE campaign_recipient SET status")
               and sql.endswith(one_row)]
    assert len(updates) == batches
    with session_scope(db_engine) as session:
        stored = session.exec(select(CampaignRecipient).where(
            CampaignRecipient.campaign_id == cid)).all()
    assert {(r.status, r.invite_messages > 0, r.run_id is not None) for r in stored} == {
        ("invited", True, True)}


def test_an_opt_out_committed_while_a_batch_waits_for_its_lock_is_honoured(
    db_engine: Engine, settings: Settings, rt: Runtime, clock: Any,
) -> None:
    """A resident read as reachable when the batch picked its recipients, then opted out by a
    transaction the batch's lock waited for, gets no invitation."""
    if db_engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite's write lock serializes everything)")
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(4)]
    cid = create(db_engine, settings, rt, clock)
    with session_scope(db_engine) as session:  # the audience is fixed first
        campaign = campaigns.get_campaign(session=session, campaign_id=cid, lock=True)
        materialize(session=session, campaign_id=cid,
                    audience=parse_audience(campaign.audience),
                    default_timezone=settings.timezone)
        campaign.materialized_at = clock()
        session.add(campaign)
    stopping = ids[2]
    inbound = db_engine.connect()
    transaction = inbound.begin()
    inbound.execute(sa_update(Participant).where(col(Participant.id) == stopping)
                    .values(opted_out=True))  # an inbound STOP, not committed yet
    done = threading.Event()
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            campaigns.run_campaigns(engine=db_engine, starter=rt, settings=settings,
                                    now=clock(), batch=10)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=tick)
    worker.start()
    assert not done.wait(0.5), "the batch must wait for the resident's row lock"
    transaction.commit()
    inbound.close()
    worker.join(30)
    assert not errors
    assert sorted(invited_ids(db_engine, cid)) == sorted(i for i in ids if i != stopping)



def test_a_paused_campaign_still_shows_finished_conversations(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    for i in range(2):
        add_resident(db_engine, rt, number(i), now=clock(), area="Hampden")
    cid = create(db_engine, settings, rt, clock, audience="area:Hampden")
    make_ticks(db_engine, settings, rt).campaigns(clock())
    deliver(rt, clock)
    with session_scope(db_engine) as session:
        campaigns.pause_campaign(session=session, campaign_id=cid, now=clock())
    reply(rt, number(0), "yes", clock)  # completes the one-question poll while paused
    assert progress(db_engine, cid).count("completed") == 1
def test_campaign_with_a_cutoff_ahead_stays_open_for_flyer_links(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    start = clock()
    link_only = create(db_engine, settings, rt, clock, audience="area:Canton",
                       cutoff_at=start + timedelta(days=7))
    no_cutoff = create(db_engine, settings, rt, clock, audience="area:Canton")
    ticks = make_ticks(db_engine, settings, rt)
    for _ in range(3):
        ticks.campaigns(clock())
        clock.advance(minutes=1)
    assert progress(db_engine, link_only).status == "running"  # audience 0, links still work
    assert progress(db_engine, no_cutoff).status == "finished"
    clock.set(start + timedelta(days=7, minutes=1))
    ticks.campaigns(clock())
    assert progress(db_engine, link_only).status == "finished"
