"""Repository functions: outbox dedupe, opt-out gate, quiet hours, consent ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engage import audit
from engage.consent import record_consent
from engage.storage import repo
from engage.storage.db import session_scope
from engage.storage.sql import Tx
from engage.storage.tables import AuditEntry, ConsentEntry, Outbox, Participant

QUIET = (time(21, 0), time(8, 0))
NOON_NY = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
NIGHT_NY = datetime(2026, 7, 2, 3, 0, tzinfo=UTC)  # 23:00 in New York


def _participant(session: sa.orm.Session, **fields: object) -> Participant:
    p = Participant(key="a" * 64, channel="sms", **fields)
    session.add(p)
    session.flush()
    return p


def _enqueue(session: sa.orm.Session, p: Participant, key: str, kind: str = "reply",
             now: datetime = NOON_NY) -> Outbox | None:
    return repo.enqueue_outbox(session=session, participant=p, channel="sms", body="hi",
                               kind=kind, dedupe_key=key, now=now, quiet_window=QUIET,
                               timezone="America/New_York",
                               buttons=[{"label": "Yes", "value": "yes"}])


def test_outbox_dedupe_key_is_unique(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        p = _participant(session)
        first = _enqueue(session, p, "k1")
        assert first is not None and first.id is not None and first.status == "pending"
        assert json.loads(first.buttons or "[]") == [{"label": "Yes", "value": "yes"}]
        assert _enqueue(session, p, "k1") is None
    with session_scope(db_engine) as session:
        p = session.exec(select(Participant)).one()
        assert _enqueue(session, p, "k1") is None  # also across transactions
        assert len(session.exec(select(Outbox)).all()) == 1


def test_opted_out_participant_gets_only_confirmations(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        p = _participant(session, opted_out=True)
        for kind in ("reply", "campaign", "reminder", "invitation", "system"):
            assert _enqueue(session, p, f"k-{kind}", kind=kind) is None
        assert _enqueue(session, p, "k-conf", kind="confirmation") is not None
        assert [o.kind for o in session.exec(select(Outbox))] == ["confirmation"]


@pytest.mark.parametrize("kind", ["campaign", "reminder", "invitation"])
def test_quiet_hours_hold_unsolicited_kinds(db_engine: sa.Engine, kind: str) -> None:
    with session_scope(db_engine) as session:
        p = _participant(session)
        row = _enqueue(session, p, "night", kind=kind, now=NIGHT_NY)
        assert row is not None
        assert row.not_before == datetime(2026, 7, 2, 12, 0, tzinfo=UTC)  # 08:00 EDT
        reply = _enqueue(session, p, "night-reply", kind="reply", now=NIGHT_NY)
        assert reply is not None and reply.not_before == NIGHT_NY


def test_participant_timezone_overrides_default(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        p = _participant(session, timezone="America/Los_Angeles")
        row = _enqueue(session, p, "la", kind="campaign", now=NIGHT_NY)  # 20:00 in LA
        assert row is not None and row.not_before == NIGHT_NY


def test_unknown_kind_rejected(db_engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="kind"), session_scope(db_engine) as session:
        _enqueue(session, _participant(session), "x", kind="spam")


def test_consent_ledger_updates_cache_and_audits(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        p = _participant(session)
        record_consent(tx=Tx.of_session(session), participant=p, scope="surveys", status="granted",
                       text_version="v1", now=NOON_NY)
        assert repo.has_consent(p, "surveys") and not repo.has_consent(p, "quotes")
        record_consent(tx=Tx.of_session(session), participant=p, scope="all", status="opted_out",
                       text_version="keyword", now=NOON_NY, source="keyword")
        assert p.opted_out and p.consent_surveys == "withdrawn"
        assert not repo.has_consent(p, "surveys")
    with session_scope(db_engine) as session:
        ledger = session.exec(select(ConsentEntry).order_by(ConsentEntry.id)).all()
        assert [(e.scope, e.status, e.text_version) for e in ledger] == [
            ("surveys", "granted", "v1"), ("all", "opted_out", "keyword")]
        actions = [a.action for a in session.exec(select(AuditEntry).order_by(AuditEntry.seq))]
        assert actions == ["consent.granted", "consent.opted_out"]
        assert audit.verify(session).ok
