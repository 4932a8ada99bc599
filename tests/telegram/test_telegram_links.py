"""Deep links end to end: ``/start <code>`` through the webhook joins a campaign or a dialogue
session (real runtime and database, fake Bot API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from engage.channels.deeplinks import make_code
from engage.storage.tables import ConsentEntry, Run
from engage.storage.tables.scheduling import (
    Campaign,
    CampaignRecipient,
    DialogueSession,
    SessionRsvp,
)
from engage.telegram.texts import LINK_UNUSABLE
from tests.telegram.telegram_harness import (
    CHAT,
    Harness,
    api_fixture,  # noqa: F401  (registers the ``api`` fixture)
    tg_fixture,  # noqa: F401  (registers the ``tg`` fixture)
)

CONSENT_OPENING = "Baltimore community safety survey"


def add_campaign(tg: Harness, now: Any, status: str = "running") -> int:
    with Session(tg.engine) as session:
        campaign = Campaign(
            name="Summer check-in",
            flow_id="satisfaction",
            status=status,
            audience="all",
            start_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(campaign)
        session.commit()
        assert campaign.id is not None
        return campaign.id


def add_session(tg: Harness, now: Any) -> int:
    with Session(tg.engine) as session:
        ds = DialogueSession(
            title="Federal Hill listening session",
            area="Federal Hill",
            place="Library, 1 Main St",
            starts_at=now + timedelta(days=5),
            ends_at=now + timedelta(days=5, hours=2),
            timezone="America/New_York",
            capacity=20,
            mediator="mediator1",
            checkin_code="FH1234",
            created_at=now,
        )
        session.add(ds)
        session.commit()
        assert ds.id is not None
        return ds.id


def runs(tg: Harness) -> list[Run]:
    with Session(tg.engine) as session:
        return list(session.exec(select(Run).order_by(col(Run.id))).all())


def code_for(tg: Harness, kind: str, target: int, now: Any, **kw: Any) -> str:
    return make_code(tg.settings.secret_bytes(), kind, target, now=now, **kw)  # type: ignore[arg-type]


async def test_campaign_link_starts_the_campaign_flow(tg: Harness, clock: Any) -> None:
    campaign_id = add_campaign(tg, clock())
    code = code_for(tg, "campaign", campaign_id, clock())
    assert (await tg.say(f"/start {code}")).status_code == 200
    (run,) = runs(tg)
    assert run.campaign_id == campaign_id and run.flow_id == "satisfaction"
    assert tg.api.sent_texts(CHAT)[0].startswith(CONSENT_OPENING)
    with Session(tg.engine) as session:
        recipient = session.exec(select(CampaignRecipient)).one()
    assert recipient.campaign_id == campaign_id and recipient.run_id == run.id
    assert recipient.status == "invited"
    # the survey goes on by buttons as usual
    await tg.press("Yes")
    assert "language" in tg.api.sent_texts(CHAT)[-1].lower()


async def test_redelivered_link_update_gives_one_reply(tg: Harness, clock: Any) -> None:
    campaign_id = add_campaign(tg, clock())
    payload = tg.updates.text(CHAT, f"/start {code_for(tg, 'campaign', campaign_id, clock())}")
    for _ in range(3):
        assert (await tg.post(payload)).status_code == 200
    await tg.deliver()
    assert len(runs(tg)) == 1
    assert len(tg.api.sent_texts(CHAT)) == 1


async def test_expired_or_forged_link_falls_back_to_plain_start(tg: Harness, clock: Any) -> None:
    campaign_id = add_campaign(tg, clock())
    old = code_for(tg, "campaign", campaign_id, clock() - timedelta(days=2), ttl=timedelta(days=1))
    await tg.say(f"/start {old}")
    texts = tg.api.sent_texts(CHAT)
    assert texts[0] == LINK_UNUSABLE["en"]
    assert texts[1].startswith(CONSENT_OPENING)  # the default flow, not the campaign
    (run,) = runs(tg)
    assert run.campaign_id is None
    await tg.say("/start not-a-real-code", chat=CHAT + 1)
    assert tg.api.sent_texts(CHAT + 1)[0] == LINK_UNUSABLE["en"]


async def test_link_to_paused_campaign_is_a_plain_start(tg: Harness, clock: Any) -> None:
    campaign_id = add_campaign(tg, clock(), status="paused")
    await tg.say(f"/start {code_for(tg, 'campaign', campaign_id, clock())}")
    (run,) = runs(tg)
    assert run.campaign_id is None


async def test_second_tap_does_not_restart_the_campaign(tg: Harness, clock: Any) -> None:
    campaign_id = add_campaign(tg, clock())
    code = code_for(tg, "campaign", campaign_id, clock())
    await tg.say(f"/start {code}")
    await tg.say(f"/start {code}")
    assert len(runs(tg)) == 1
    *_, subscribed, again = tg.api.sent_texts(CHAT)
    assert "subscribed" in subscribed  # the runtime's "you are subscribed"
    assert again == tg.api.sent_texts(CHAT)[0]  # ... and the open question, asked again


async def test_session_link_starts_the_rsvp_invitation(tg: Harness, clock: Any) -> None:
    session_id = add_session(tg, clock())
    await tg.say(f"/start {code_for(tg, 'session', session_id, clock())}")
    (run,) = runs(tg)
    assert run.flow_id == "dialogue_rsvp" and run.session_id == session_id
    first = tg.api.sent_texts(CHAT)[0]
    assert "Federal Hill listening session" in first and "Library" in first
    with Session(tg.engine) as session:
        rsvp = session.exec(select(SessionRsvp)).one()
    assert rsvp.session_id == session_id and rsvp.run_id == run.id
    await tg.press("Yes")
    assert len(tg.api.calls_to("answerCallbackQuery")) == 1


async def test_link_opts_a_stopped_resident_back_in(tg: Harness, clock: Any) -> None:
    await tg.say("Hello")
    await tg.say("/stop")
    participant = tg.participant()
    assert participant is not None and participant.opted_out
    campaign_id = add_campaign(tg, clock())
    clock.advance(minutes=1)
    await tg.say(f"/start {code_for(tg, 'campaign', campaign_id, clock())}")
    participant = tg.participant()
    assert participant is not None and not participant.opted_out
    with Session(tg.engine) as session:
        entries = session.exec(
            select(ConsentEntry).where(ConsentEntry.participant_id == participant.id)
        ).all()
    assert [e.status for e in entries if e.scope == "all"] == ["opted_out", "opted_in"]
    assert runs(tg)[-1].campaign_id == campaign_id
    assert tg.api.sent_texts(CHAT)[-1].startswith(CONSENT_OPENING)
