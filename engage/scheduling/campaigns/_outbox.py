"""A campaign's outbox rows, found by their dedupe keys (the outbox has no campaign column)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Update, update
from sqlmodel import col

from engage.storage.tables import Outbox

CAMPAIGN_KINDS = ("campaign", "reminder")


def invite_key(campaign_id: int, participant_id: int) -> str:
    return f"campaign:{campaign_id}:p:{participant_id}:invite"


def reminder_key(campaign_id: int, participant_id: int, number: int) -> str:
    return f"campaign:{campaign_id}:p:{participant_id}:reminder:{number}"


def campaign_outbox_conditions(campaign_id: int) -> list[ColumnElement[bool]]:
    return [col(Outbox.dedupe_key).like(f"campaign:{campaign_id}:%"),
            col(Outbox.kind).in_(CAMPAIGN_KINDS)]


def campaign_outbox_update(campaign_id: int, statuses: tuple[str, ...]) -> Update:
    return (update(Outbox)
            .where(*campaign_outbox_conditions(campaign_id), col(Outbox.status).in_(statuses))
            .execution_options(synchronize_session=False))
