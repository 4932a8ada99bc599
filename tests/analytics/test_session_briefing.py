"""The briefing for a dialogue session: RSVPs, attendance and feedback answers, suppressed
like every figure (residents answer through the real runtime and flows)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from engage.analytics.briefing import export_briefing
from engage.config import Settings
from engage.scheduling import dialogue
from engage.storage.db import session_scope

sys.path.insert(0, str(Path(__file__).parent.parent / "scheduling"))
from sched_helpers import add_resident, deliver, make_runtime, make_ticks, number, reply

START = datetime(2026, 7, 3, 20, 0, tzinfo=UTC)  # 16:00 in Baltimore


def _session_with_feedback(engine: Engine, settings: Settings, clock: Any,
                           tmp_path: Path) -> int:
    rt = make_runtime(engine, settings, clock, tmp_path)
    for i in range(8):
        add_resident(engine, rt, number(i), now=clock(), area="Hampden", dialogue="granted")
    with session_scope(engine) as session:
        ds = dialogue.create_session(
            session=session, settings=settings, title="GVRS feedback", area="Hampden",
            place="Library", starts_at=START, ends_at=START + timedelta(hours=2), capacity=10,
            mediator="m.jones", now=clock())
        sid, code = ds.id, ds.checkin_code
        assert sid is not None
        dialogue.invite(session=session, starter=rt, session_id=sid, now=clock(),
                        settings=settings)
    deliver(rt, clock)
    for i, answer in enumerate(["yes"] * 4 + ["no"] * 3):  # number(7) never replies
        reply(rt, number(i), answer, clock)
    clock.set(START + timedelta(minutes=5))
    for i in range(4):
        reply(rt, number(i), code, clock)
    clock.set(START + timedelta(hours=3))
    make_ticks(engine, settings, rt).dialogues(clock())
    deliver(rt, clock)
    for i, (useful, heard) in enumerate([("4", "yes"), ("4", "yes"), ("5", "yes"),
                                         ("2", "no")]):
        for text in (useful, heard, "skip"):
            reply(rt, number(i), text, clock)
    return sid


def test_session_briefing_counts_rsvps_attendance_and_feedback_suppressed(
        db_engine: Engine, settings: Settings, clock: Any, tmp_path: Path) -> None:
    small = settings.model_copy(update={"min_cell_size": 3})
    sid = _session_with_feedback(db_engine, small, clock, tmp_path)
    out = tmp_path / "briefing.json"
    export_briefing(engine=db_engine, settings=small, area=None, session_id=sid,
                    out=out, fmt="json", now=clock())
    section = json.loads(out.read_text())["session"]
    assert section["invited"] == 8 and section["attended"] == 4
    rsvp = {f["label"]: f["count"] for f in section["rsvp"]}
    assert rsvp["coming"] == 4
    # 1 "awaiting reply" is small, and "not coming" (3) goes with it: 8 - 4 would reveal it
    assert rsvp["awaiting reply"] is None and rsvp["not coming"] is None
    assert section["feedback_answered"] == 4
    useful = {f["label"]: f["count"] for f in section["usefulness"]}
    assert useful == {"1": 0, "2": None, "3": 0, "4": None, "5": None}
    assert section["usefulness_mean"] == pytest.approx(3.75)
    heard = {f["label"]: f["count"] for f in section["felt_heard"]}
    assert heard == {"yes": None, "no": None}  # 3 and 1 of 4 shown: the 1 is recoverable
    md = tmp_path / "briefing.md"
    export_briefing(engine=db_engine, settings=small, area=None, session_id=sid, out=md,
                    fmt="md", now=clock())
    text = md.read_text()
    assert "## This session: GVRS feedback" in text
    assert "- checked in: 4" in text and "- average: 3.8" in text
    assert "awaiting reply: fewer than 3 (withheld)" in text
    assert "+1410555" not in text
