"""Pseudonyms, address encryption, scrubbing, retention and erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engage import privacy
from engage.errors import UserError
from engage.storage.db import session_scope
from engage.storage.tables import ConsentEntry, Message, Outbox, Participant, Response, Run

SECRET = b"s" * 40
NOW = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["+1 (410) 555-0100", "410-555-0100", "4105550100", "+14105550100"])
def test_sms_addresses_normalize_to_e164(raw: str) -> None:
    assert privacy.normalize_address("sms", raw) == "+14105550100"


def test_telegram_addresses_are_chat_ids() -> None:
    assert privacy.normalize_address("telegram", " 12345 ") == "12345"
    assert privacy.normalize_address("telegram", "-1001") == "-1001"


@pytest.mark.parametrize(("channel", "raw"), [("sms", "hello"), ("sms", "12"), ("telegram", "abc"),
                                              ("fax", "1")])
def test_bad_addresses_are_rejected_without_echoing(channel: str, raw: str) -> None:
    with pytest.raises(UserError) as info:
        privacy.normalize_address(channel, raw)
    assert raw not in str(info.value) or raw == "1"


def test_participant_key_is_keyed_and_channel_scoped() -> None:
    key = privacy.participant_key(SECRET, "sms", "+14105550100")
    assert len(key) == 64 and key == privacy.participant_key(SECRET, "sms", "+14105550100")
    assert key != privacy.participant_key(b"t" * 40, "sms", "+14105550100")
    assert key != privacy.participant_key(SECRET, "telegram", "+14105550100")
    assert "4105550100" not in key


def test_address_encryption_round_trips_and_is_randomized() -> None:
    a = privacy.encrypt_address(SECRET, "+14105550100")
    b = privacy.encrypt_address(SECRET, "+14105550100")
    assert a != b and b"4105550100" not in a
    assert privacy.decrypt_address(SECRET, a) == "+14105550100"
    with pytest.raises(UserError):
        privacy.decrypt_address(b"x" * 40, a)


@pytest.mark.parametrize(
    ("text", "tag", "gone"),
    [
        ("call me at 410-555-1234 ok", "[phone]", "555-1234"),
        ("my cell (410) 555 1234", "[phone]", "555 1234"),
        ("text +1 410 555 1234 anytime", "[phone]", "555 1234"),
        ("number 4105551234", "[phone]", "4105551234"),
        ("email jane.doe+x@example.org please", "[email]", "jane.doe"),
        ("see https://example.com/a?b=c", "[url]", "example.com"),
        ("see www.city.gov/page", "[url]", "city.gov"),
        ("I live at 1200 N Charles St near the park", "[address]", "1200 N Charles"),
        ("corner by 55 West Lombard Street apt 4", "[address]", "Lombard"),
        ("at 3400 greenmount ave.", "[address]", "greenmount"),
        ("DM @janedoe99", "[handle]", "janedoe99"),
    ],
)
def test_scrub_replaces_pii_with_tags(text: str, tag: str, gone: str) -> None:
    out = privacy.scrub(text)
    assert tag in out and gone not in out


@pytest.mark.parametrize(
    "text",
    ["I feel safe 5 days a week", "More lights on the street", "about 20 minutes",
     "ages 18-24 mostly", "It's 2026 and nothing changed", "4"],
)
def test_scrub_keeps_ordinary_text(text: str) -> None:
    assert privacy.scrub(text) == text


def test_mask_shows_only_the_ends() -> None:
    masked = privacy.mask("+14105550100")
    assert masked.startswith("+141") and masked.endswith("00") and "555" not in masked


# --- storage ------------------------------------------------------------------------------


def _participant(session: sa.orm.Session, key: str = "k") -> Participant:
    p = Participant(key=key.ljust(64, "0"), channel="sms",
                    address_enc=privacy.encrypt_address(SECRET, "+14105550100"),
                    area="Canton", district="Southeastern", consent_surveys="granted")
    session.add(p)
    session.flush()
    return p


def test_purge_expired_bodies(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        p = _participant(session)
        session.add(Message(participant_id=p.id, channel="sms", direction="in", provider_id="old",
                            body="old body", created_at=NOW - timedelta(days=91)))
        session.add(Message(participant_id=p.id, channel="sms", direction="in", provider_id="new",
                            body="new body", created_at=NOW - timedelta(days=10)))
        session.add(Outbox(participant_id=p.id, channel="sms", body="sent long ago",
                           dedupe_key="o1", status="sent", created_at=NOW - timedelta(days=100)))
        session.add(Outbox(participant_id=p.id, channel="sms", body="still pending",
                           dedupe_key="o2", status="pending", created_at=NOW - timedelta(days=100)))
    with session_scope(db_engine) as session:
        assert privacy.purge_expired_bodies(session=session, now=NOW, days=90) == 2
    with session_scope(db_engine) as session:
        bodies = {m.provider_id: (m.body, m.purged_at) for m in session.exec(select(Message))}
        assert bodies["old"] == (None, NOW) and bodies["new"][0] == "new body"
        outbox = {o.dedupe_key: o.body for o in session.exec(select(Outbox))}
        assert outbox == {"o1": None, "o2": "still pending"}


def test_erase_participant_leaves_an_anonymous_tombstone(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        p = _participant(session)
        other = _participant(session, key="other")
        for owner in (p, other):
            run = Run(participant_id=owner.id, flow_id="satisfaction",
                      state='{"results":{"safer":"x"}}')
            session.add(run)
            session.flush()
            session.add(Response(run_id=run.id, participant_id=owner.id, flow_id="satisfaction",
                                 name="safer", question_type="text", text="lights"))
            session.add(Message(participant_id=owner.id, channel="sms", direction="in",
                                provider_id=f"m{owner.id}", body="hello"))
            session.add(Outbox(participant_id=owner.id, channel="sms", body="q?",
                               dedupe_key=f"d{owner.id}", status="pending", run_id=run.id))
            session.add(ConsentEntry(participant_id=owner.id, scope="surveys", status="granted",
                                     text_version="v1"))
        pid, old_key = p.id, p.key
    with session_scope(db_engine) as session:
        p = session.get(Participant, pid)
        counts = privacy.erase_participant(session=session, participant=p, now=NOW)
    assert counts == {"responses": 1, "messages": 1, "runs": 1}
    with session_scope(db_engine) as session:
        tomb = session.get(Participant, pid)
        assert tomb.key != old_key and tomb.key.startswith("erased:")
        assert tomb.address_enc is None and tomb.area is None and tomb.erased_at == NOW
        assert session.exec(select(Response).where(Response.participant_id == pid)).all() == []
        assert session.exec(select(Run).where(Run.participant_id == pid)).all() == []
        assert session.exec(select(Message).where(Message.participant_id == pid)).all() == []
        mine = session.exec(select(Outbox).where(Outbox.participant_id == pid)).one()
        assert mine.status == "cancelled" and mine.body is None
        assert mine.run_id is None  # the run is gone, and its id may be given out again
        ledger = session.exec(select(ConsentEntry).where(ConsentEntry.participant_id == pid)).all()
        assert [e.status for e in ledger] == ["granted", "erased"]
        # the other resident is untouched
        assert len(session.exec(select(Response)).all()) == 1
        other_row = session.exec(select(Outbox).where(Outbox.participant_id != pid)).one()
        assert other_row.status == "pending" and other_row.run_id is not None
        assert privacy.count_erased(session) == 1


def test_structured_logging_drops_unknown_fields_and_scrubs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json
    import logging

    from engage.logging import configure, log_event

    configure(logging.INFO)
    log = logging.getLogger("engage.test")
    log_event(log, "inbound.handled", participant="ab" * 32, message_id=7,
              body="call 410-555-1234", address="+14105550100")
    log.warning("careless: reply from %s at 1200 N Charles St", "+1 410 555 0100")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    handled = next(line for line in lines if line["event"] == "inbound.handled")
    assert handled["participant"] == "ab" * 8 and handled["message_id"] == 7
    assert "body" not in handled and "address" not in handled
    careless = next(line for line in lines if line["event"].startswith("careless"))
    assert "[phone]" in careless["event"] and "[address]" in careless["event"]
    assert "555" not in careless["event"]
    root = logging.getLogger("engage")
    for handler in list(root.handlers):
        if getattr(handler, "_engage", False):
            root.removeHandler(handler)
