"""Campaign and dialogue tests run on SQLite and PostgreSQL with an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sched_helpers import make_runtime
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.runtime import Runtime


@pytest.fixture
def rt(db_engine: Engine, settings: Settings, clock: Any, tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(db_engine, settings, clock, tmp_path)
    yield runtime
    runtime.close()
