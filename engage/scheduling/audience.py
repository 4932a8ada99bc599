"""Campaign audiences: parse the ``--audience`` spec and snapshot it into recipient rows.

The snapshot is one ``INSERT .. SELECT`` (100,000 residents in well under a second), taken when
the campaign first runs, so residents who opt in before the start are included and the campaign
then reaches exactly that list. CSV audiences are resolved when the campaign is created.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import ColumnElement, exists, func, insert, literal, select
from sqlmodel import Session, col

from engage.errors import UserError
from engage.privacy import normalize_address
from engage.storage.tables import Participant, Run
from engage.storage.tables.scheduling import CampaignRecipient

KINDS = ("all", "area", "district", "language", "participated", "csv")
REFUSED_CONSENT = ("declined", "withdrawn")


@dataclass(frozen=True)
class Audience:
    kind: str
    value: str | None = None

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"


def parse_audience(spec: str) -> Audience:
    """``all``, ``area:NAME``, ``district:NAME``, ``language:es``, ``participated:FLOW``,
    ``csv:FILE``; anything else is a one-line ``UserError``."""
    text = (spec or "").strip()
    kind, sep, value = text.partition(":")
    kind = kind.strip().lower()
    value = value.strip()
    if kind == "all" and not sep:
        return Audience("all")
    if kind in KINDS and kind != "all" and value:
        return Audience(kind, value.lower() if kind == "language" else value)
    raise UserError(
        f"audience {spec!r}: expected all, area:NAME, district:NAME, language:CODE, "
        "participated:FLOW or csv:FILE"
    )


class ParticipantSource(Protocol):
    def participant_for(self, session: Session, channel: str, address: str,
                        now: datetime) -> Participant: ...


def read_csv_numbers(path: Path) -> tuple[list[str], int]:
    """Phone numbers from a CSV (a ``phone``/``number`` column, else the first column),
    normalized to E.164 and deduplicated. Returns (numbers, rejected rows)."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    numbers: dict[str, None] = {}
    rejected = 0
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return [], 0
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(n) for n in ("phone", "number", "phone_number", "mobile")
                   if n in header), None)
    body = rows[1:] if column is not None else rows
    column = column or 0
    for row in body:
        raw = row[column].strip() if len(row) > column else ""
        if not raw:
            continue
        try:
            numbers[normalize_address("sms", raw)] = None
        except UserError:
            rejected += 1
    if not numbers:
        raise UserError(f"{path}: no valid phone numbers found ({rejected} rejected)")
    return list(numbers), rejected


def _base_filter() -> list[ColumnElement[bool]]:
    return [
        col(Participant.opted_out).is_(False),
        col(Participant.erased_at).is_(None),
        col(Participant.address_enc).is_not(None),
    ]


def audience_filter(audience: Audience) -> list[ColumnElement[bool]]:
    """SQL conditions on ``participant`` selecting the audience (not CSV)."""
    conditions = _base_filter()
    if audience.kind == "participated":
        conditions.append(func.coalesce(Participant.consent_surveys, "").not_in(REFUSED_CONSENT))
        conditions.append(exists().where(
            col(Run.participant_id) == col(Participant.id),
            col(Run.flow_id) == audience.value,
            col(Run.status) == "completed",
        ))
        return conditions
    conditions.append(col(Participant.consent_surveys) == "granted")
    value = (audience.value or "").lower()
    if audience.kind == "area":
        conditions.append(func.lower(Participant.area) == value)
    elif audience.kind == "district":
        conditions.append(func.lower(Participant.district) == value)
    elif audience.kind == "language":
        conditions.append(func.lower(Participant.language) == value)
    elif audience.kind != "all":
        raise UserError(f"audience {audience} cannot be selected from participants")
    return conditions


def materialize(*, session: Session, campaign_id: int, audience: Audience,
                default_timezone: str) -> int:
    """Snapshot the audience into ``campaign_recipient`` (pending). Returns rows added."""
    source = select(
        literal(campaign_id),
        col(Participant.id),
        literal("pending"),
        func.coalesce(Participant.timezone, default_timezone),
        col(Participant.area),
        literal(0),
        literal(0),
    ).where(*audience_filter(audience))
    stmt = insert(CampaignRecipient).from_select(
        ["campaign_id", "participant_id", "status", "timezone", "area", "invite_messages",
         "reminders_sent"],
        source,
    )
    return int(getattr(session.execute(stmt), "rowcount", 0) or 0)


def add_csv_recipients(*, session: Session, campaign_id: int, numbers: list[str],
                       source: ParticipantSource, default_timezone: str, now: datetime) -> int:
    """Resolve each number to its participant (created if new, address encrypted) and add it.

    Opted-out and refused-consent residents are added as ``opted_out``/``skipped`` so progress
    shows they were in the list but nothing is ever sent to them.
    """
    added = 0
    for number in numbers:
        participant = source.participant_for(session, "sms", number, now)
        status = "pending"
        if participant.opted_out or participant.erased_at is not None:
            status = "opted_out"
        elif participant.consent_surveys in REFUSED_CONSENT:
            status = "skipped"
        exists_already = session.execute(
            select(col(CampaignRecipient.id)).where(
                col(CampaignRecipient.campaign_id) == campaign_id,
                col(CampaignRecipient.participant_id) == participant.id,
            )
        ).first()
        if exists_already is not None:
            continue
        assert participant.id is not None
        session.add(CampaignRecipient(
            campaign_id=campaign_id, participant_id=participant.id, status=status,
            timezone=participant.timezone or default_timezone, area=participant.area,
            finished_at=now if status != "pending" else None,
        ))
        added += 1
    session.flush()
    return added


def audience_size(*, session: Session, audience: Audience) -> int:
    """How many residents ``audience`` reaches right now (what a snapshot would take)."""
    stmt = select(func.count()).select_from(Participant).where(*audience_filter(audience))
    return int(session.execute(stmt).scalar_one())
