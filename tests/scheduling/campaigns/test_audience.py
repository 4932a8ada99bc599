"""A campaign's audience: who it reaches (area, past participation, a CSV list) and who it never
does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sched_helpers import add_resident, make_ticks, number, reply, rows
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.runtime import Runtime
from tests.scheduling.campaigns.helpers import create, invited_ids, progress


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
