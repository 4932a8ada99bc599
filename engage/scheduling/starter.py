"""The one seam between scheduling and the runtime: starting a flow for a resident."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from engage.storage.tables import Participant


class StartedRun(Protocol):
    """What a tick reads back from a run it started: only its id (the runtime returns its
    own record type, which the ticks need not know)."""

    @property
    def id(self) -> int: ...


class RunStarter(Protocol):
    """The part of ``engage.runtime.Runtime`` campaigns and dialogue sessions need."""

    def start_run(self, *, session: Session, participant: Participant, flow_id: str, kind: str,
                  dedupe_key: str, now: datetime, context: dict[str, Any] | None = None,
                  campaign_id: int | None = None, session_id: int | None = None,
                  locked: bool = False) -> StartedRun | None: ...
