"""Creating sessions (bad ones refused) and closing them a day after the end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sched_helpers import make_ticks
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.errors import UserError
from engage.runtime import Runtime
from engage.scheduling import dialogue
from engage.storage.db import session_scope
from tests.scheduling.dialogue.helpers import START, make_session


def test_bad_sessions_are_refused(db_engine: Engine, settings: Settings, clock: Any) -> None:
    with session_scope(db_engine) as session, pytest.raises(UserError) as err:
        dialogue.create_session(session=session, settings=settings, title=" ", area="X",
                                place="Y", starts_at=START, ends_at=START, capacity=0,
                                mediator="m", now=clock())
    message = str(err.value)
    assert "title" in message and "end" in message and "capacity" in message


def test_session_closes_itself_a_day_after_the_end(db_engine: Engine, settings: Settings,
                                                   rt: Runtime, clock: Any) -> None:
    sid = make_session(db_engine, settings, clock)
    clock.set(START + timedelta(hours=27))
    report = make_ticks(db_engine, settings, rt).dialogues(clock())
    assert report.closed == [sid]
