"""Scheduling tables: campaigns and their recipients, dialogue sessions and their RSVPs.

Schedules live here (never in an APScheduler job store): the leader's ticks read these rows and
turn due work into outbox rows with unique dedupe keys. Enums are plain strings (see the
``*_STATUSES`` tuples); timestamps are aware UTC (``UTCDateTime``). No addresses are stored here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel, col

from engage.storage.tables.columns import ts
from engage.storage.tables.outbox import Outbox

CAMPAIGN_STATUSES = ("draft", "scheduled", "running", "paused", "cancelled", "finished")
RECIPIENT_STATUSES = (
    "pending",  # in the audience, not invited yet
    "invited",  # first messages enqueued, no reply yet
    "started",  # replied at least once
    "completed",
    "declined",
    "expired",
    "opted_out",
    "skipped",  # could not be invited (already in another run, not reachable, quota reached)
)
FINAL_RECIPIENT_STATUSES = ("completed", "declined", "expired", "opted_out", "skipped")
SESSION_STATUSES = ("scheduled", "cancelled", "closed")
RSVP_STATUSES = ("invited", "yes", "no", "maybe", "waitlisted", "opted_out", "walk_in")


class Campaign(SQLModel, table=True):
    """A survey campaign: one flow sent to one audience, paced by throttle and quiet hours."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    flow_id: str = Field(max_length=80)
    status: str = Field(default="draft", max_length=16, index=True)
    audience: str = Field(max_length=300)  # all | area:X | district:X | language:X | ...
    start_at: datetime = ts()
    cutoff_at: datetime | None = ts(nullable=True)
    throttle_per_minute: int | None = None  # None = no throttle
    reminders: int = 0
    reminder_after_hours: float = 24.0
    run_expiry_hours: float | None = None  # stop reminding / count as expired after this
    quota: int | None = None  # stop after N completes
    quota_per_area: bool = False
    created_by: str = Field(default="staff", max_length=80)
    materialized_at: datetime | None = ts(nullable=True)  # audience snapshot taken
    finished_at: datetime | None = ts(nullable=True)
    finish_reason: str | None = Field(default=None, max_length=40)
    created_at: datetime = ts()
    updated_at: datetime = ts()


class CampaignRecipient(SQLModel, table=True):
    """One participant in a campaign's audience and where they are with it."""

    __tablename__ = "campaign_recipient"
    __table_args__ = (
        UniqueConstraint("campaign_id", "participant_id", name="uq_campaign_recipient"),
        Index("ix_campaign_recipient_status", "campaign_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    participant_id: int = Field(foreign_key="participant.id", index=True)
    status: str = Field(default="pending", max_length=16)
    timezone: str = Field(max_length=64)  # snapshot: quiet hours are judged in this zone
    area: str | None = Field(default=None, max_length=120)
    run_id: int | None = Field(default=None, index=True)
    invited_at: datetime | None = ts(nullable=True)
    invite_messages: int = 0  # outbox rows the invitation produced (throttle accounting)
    reminders_sent: int = 0
    last_reminder_at: datetime | None = ts(nullable=True)
    finished_at: datetime | None = ts(nullable=True)


# the shipped flows a session's runs take (``Run.session_id`` set): the invitation with its
# RSVP question, and the survey after the session (scheduling starts them, analytics reads them)
RSVP_FLOW = "dialogue_rsvp"
FEEDBACK_FLOW = "session_feedback"


class DialogueSession(SQLModel, table=True):
    """A mediator's dialogue session (table name avoids clashing with the ORM word "session")."""

    __tablename__ = "dialogue_session"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=160)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    area: str = Field(max_length=120, index=True)  # neighbourhood or district name
    place: str = Field(max_length=200)
    starts_at: datetime = ts()
    ends_at: datetime = ts()
    timezone: str = Field(max_length=64)
    capacity: int
    mediator: str = Field(max_length=80, index=True)
    status: str = Field(default="scheduled", max_length=16, index=True)
    checkin_code: str = Field(max_length=12, index=True)
    invited_at: datetime | None = ts(nullable=True)
    cancelled_at: datetime | None = ts(nullable=True)
    closed_at: datetime | None = ts(nullable=True)
    created_at: datetime = ts()


class SessionRsvp(SQLModel, table=True):
    """One invited resident's answer, seat (yes) or waitlist place, attendance and feedback."""

    __tablename__ = "session_rsvp"
    __table_args__ = (
        UniqueConstraint("session_id", "participant_id", name="uq_session_rsvp"),
        Index("ix_session_rsvp_status", "session_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="dialogue_session.id")
    participant_id: int = Field(foreign_key="participant.id", index=True)
    status: str = Field(default="invited", max_length=16)
    run_id: int | None = Field(default=None, index=True)
    needs: str | None = Field(default=None, max_length=120)
    invited_at: datetime | None = ts(nullable=True)
    responded_at: datetime | None = ts(nullable=True)  # orders the waitlist
    promoted_at: datetime | None = ts(nullable=True)
    reminder_24h_at: datetime | None = ts(nullable=True)
    reminder_2h_at: datetime | None = ts(nullable=True)
    checked_in_at: datetime | None = ts(nullable=True)
    feedback_run_id: int | None = None


# Prefix lookups on outbox dedupe keys ("campaign:7:%", and Runtime.start_run's
# "campaign:7:p:42:invite:%") must not scan the whole outbox: with 100,000 campaign rows a
# sequential scan per invitation makes fan-out quadratic. PostgreSQL can serve LIKE 'prefix%'
# from a btree only with text_pattern_ops (the unique index follows the database collation).
# SQLite needs nothing extra: its LIKE never uses an index here and its outbox is small.
Index(
    "ix_outbox_dedupe_prefix",
    col(Outbox.dedupe_key),
    postgresql_ops={"dedupe_key": "text_pattern_ops"},
).ddl_if(dialect="postgresql")
