"""Creating a campaign: settings that make no sense are refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.errors import UserError
from engage.runtime import Runtime
from tests.scheduling.campaigns.helpers import create


def test_bad_options_are_refused(db_engine: Engine, settings: Settings, rt: Runtime,
                                 clock: Any) -> None:
    with pytest.raises(UserError, match="unknown flow"):
        create(db_engine, settings, rt, clock, flow_id="nope")
    with pytest.raises(UserError, match="cutoff"):
        create(db_engine, settings, rt, clock, cutoff_at=clock() - timedelta(hours=1))
    with pytest.raises(UserError, match="throttle"):
        create(db_engine, settings, rt, clock, throttle_per_minute=0)
