"""Plain records of a participant and a run, read by the hot paths instead of ORM instances.

They carry exactly the columns of their tables, under the same names, so code that only reads
attributes (``has_consent``, ``insert_outbox``, the runtime) works with a record or an ORM
object alike. Building an ORM instance costs more than the statement that reads it; a record
is one tuple unpacked. Writes always go through repository functions, which keep whichever
object they are given in step with the row.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from engage.storage.tables import Participant, Run


@dataclass(slots=True)
class ParticipantRow:
    id: int
    key: str
    channel: str
    address_enc: bytes | None
    language: str
    timezone: str | None
    area: str | None
    district: str | None
    opted_out: bool
    consent_surveys: str | None
    consent_dialogue: str | None
    consent_quotes: str | None
    created_at: datetime
    erased_at: datetime | None


@dataclass(slots=True)
class RunRow:
    id: int
    participant_id: int | None
    flow_id: str
    flow_version_id: int | None
    status: str
    state: str
    campaign_id: int | None
    session_id: int | None
    wake_at: datetime | None
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None


class ParticipantFields(Protocol):
    """What storage reads of a participant: a ``ParticipantRow`` or an ORM ``Participant``
    (whose ``id`` is None until it is stored)."""

    @property
    def id(self) -> int | None: ...
    @property
    def opted_out(self) -> bool: ...
    @property
    def erased_at(self) -> datetime | None: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def consent_surveys(self) -> str | None: ...
    @property
    def consent_dialogue(self) -> str | None: ...
    @property
    def consent_quotes(self) -> str | None: ...


class RunFields(Protocol):
    """The changing columns of a run, a ``RunRow`` or an ORM ``Run`` alike (``save_run``,
    ``end_run``)."""

    @property
    def id(self) -> int | None: ...
    state: str
    status: str
    wake_at: datetime | None
    updated_at: datetime
    ended_at: datetime | None


def columns_of(record: type[Any], table: sa.Table) -> list[sa.Column[Any]]:
    """The table's columns in the record's field order (a test checks they are the same)."""
    return [table.c[f.name] for f in fields(record)]


PARTICIPANT_COLUMNS = columns_of(ParticipantRow, Participant.__table__)  # type: ignore[attr-defined]
RUN_COLUMNS = columns_of(RunRow, Run.__table__)  # type: ignore[attr-defined]
N_PARTICIPANT = len(PARTICIPANT_COLUMNS)


def participant_row(values: tuple[Any, ...]) -> ParticipantRow:
    return ParticipantRow(*values)


def run_row(values: tuple[Any, ...]) -> RunRow | None:
    """A run from its columns; None when the columns are all NULL (an outer join's miss)."""
    return RunRow(*values) if values[0] is not None else None
