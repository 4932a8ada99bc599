"""The typed values every part of the runtime passes around: what the runtime was built with
(``Services``), one validated inbound message (``Job``), what happened to it
(``InboundOutcome``) and the state of the one message or wake-up being handled
(``MessageContext``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy.engine import Engine

from engage.channels.base import Inbound
from engage.config import Settings
from engage.flow import Flow
from engage.flows_catalog import FlowCatalog
from engage.storage.records import ParticipantRow, RunRow
from engage.storage.sql import Tx
from engage.storage.tables import Participant

# every runtime module logs under one name: operators filter on it
log = logging.getLogger("engage.runtime")

SUPPORTED_LANGUAGES = ("en", "es")

Status = Literal["handled", "duplicate", "ignored"]


@dataclass(frozen=True)
class InboundOutcome:
    """What happened to one inbound message (never carries the address or the text)."""

    status: Status
    participant_key: str | None
    outbox_ids: tuple[int, ...] = ()
    keyword: str | None = None
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One validated inbound message, ready for a transaction."""

    inbound: Inbound
    channel: str
    normalized: str
    key: str
    text: str
    now: datetime


@dataclass(frozen=True)
class Services:
    """What the runtime was built with; every handler reads from here, none keeps state."""

    engine: Engine
    settings: Settings
    catalog: FlowCatalog
    secret: bytes
    score: Callable[[str], float]
    score_version: str
    is_pg: bool
    is_sqlite: bool

    def flow_of(self, tx: Tx, run: RunRow) -> Flow:
        """The flow version the run started on (the catalog's current one if unversioned)."""
        if run.flow_version_id is None:
            return self.catalog.get(run.flow_id)
        return self.catalog.version(tx, run.flow_version_id)


@dataclass
class MessageContext:
    """Per-message state: where outbound rows go and how their dedupe keys are made.
    ``participant`` is a record (inbound, wake-ups) or an ORM instance (campaign starts)."""

    services: Services
    tx: Tx
    participant: ParticipantRow | Participant
    now: datetime
    prefix: str
    channel: str
    default_kind: str
    active: RunRow | None = None
    fresh: bool = False  # the participant was created by this message: it has no runs
    outbox_ids: list[int] = field(default_factory=list)
    outbox_keys: list[str] = field(default_factory=list)
    counter: int = 0

    @property
    def participant_id(self) -> int:
        """The participant's id: every context is made for a stored participant."""
        participant_id = self.participant.id
        if participant_id is None:
            raise ValueError("participant is not stored")
        return participant_id
