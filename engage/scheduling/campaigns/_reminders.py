"""Reminding a campaign's non-responders: residents invited who never replied, once their
reminder is due and their local time is outside quiet hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from engage.config import Settings
from engage.scheduling.campaigns._outbox import reminder_key
from engage.scheduling.campaigns._pacing import sending_window
from engage.storage import repo
from engage.storage.tables import Participant
from engage.storage.tables.scheduling import Campaign, CampaignRecipient

REMINDER_TEXT = {
    "en": "Reminder from {program}: we'd still like to hear from you. Reply to the last "
          "question to continue, or STOP to opt out.",
    "es": "Recordatorio de {program}: todavía nos gustaría conocer su opinión. Responda a la "
          "última pregunta para continuar, o STOP para salir.",
}


def remind_batch(session: Session, campaign: Campaign, settings: Settings, now: datetime,
                 limit: int) -> tuple[int, bool]:
    """Remind non-responders (invited, never replied) whose reminder is due and whose local
    time is outside quiet hours. Returns (reminded, more may be due now)."""
    assert campaign.id is not None
    if campaign.reminders <= 0:
        return 0, False
    budget, zones = sending_window(session, campaign, ("invited",), settings, now, limit)
    if not zones:
        return 0, False
    due = now - timedelta(hours=campaign.reminder_after_hours)
    rec = CampaignRecipient
    rows = session.exec(
        select(rec, Participant)
        .join(Participant, col(Participant.id) == col(rec.participant_id))
        .where(rec.campaign_id == campaign.id, rec.status == "invited",
               col(rec.reminders_sent) < campaign.reminders,
               col(rec.timezone).in_(zones),
               or_(and_(col(rec.last_reminder_at).is_(None), col(rec.invited_at) <= due),
                   col(rec.last_reminder_at) <= due))
        .order_by(col(rec.id))
        .limit(budget)
    ).all()
    program = settings.program_name
    reminded = 0
    for recipient, participant in rows:
        number = recipient.reminders_sent + 1
        text = REMINDER_TEXT.get(participant.language, REMINDER_TEXT["en"])
        repo.enqueue_outbox(
            session=session, participant=participant, channel=participant.channel,
            body=text.format(program=program), kind="reminder",
            dedupe_key=reminder_key(campaign.id, recipient.participant_id, number),
            now=now, run_id=recipient.run_id, quiet_window=settings.quiet_window,
            timezone=settings.timezone,
        )
        recipient.reminders_sent = number
        recipient.last_reminder_at = now
        session.add(recipient)
        reminded += 1
    return reminded, len(rows) == budget and campaign.throttle_per_minute is None
