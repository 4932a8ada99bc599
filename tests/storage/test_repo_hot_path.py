"""The inbound hot path's repository functions: one-statement participant + run lookup,
column updates without a unit-of-work flush, consent written with Core statements."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import select

from engage import audit
from engage.consent import record_consent
from engage.storage import repo
from engage.storage.db import session_scope
from engage.storage.sql import Tx, statement_log
from engage.storage.tables import ConsentEntry, Participant, Run

NOW = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)


def _participant(session: sa.orm.Session, key: str = "a" * 64) -> Participant:
    p = Participant(key=key, channel="sms")
    session.add(p)
    session.flush()
    return p


def _run(session: sa.orm.Session, p: Participant, status: str) -> Run:
    run = Run(participant_id=p.id, flow_id="satisfaction", status=status, state="{}",
              started_at=NOW, updated_at=NOW)
    session.add(run)
    session.flush()
    return run


def test_participant_and_active_run_finds_the_newest_waiting_run(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        p = _participant(session)
        other = _participant(session, key="b" * 64)
        _run(session, p, "waiting")
        newest = _run(session, p, "waiting")
        _run(session, p, "completed")
        _run(session, other, "waiting")
        newest_id, pid = newest.id, p.id
    for lock in (False, True):
        with session_scope(db_engine) as session:
            found = repo.participant_and_active_run(tx=Tx.of_session(session), channel="sms",
                                                    key="a" * 64, lock=lock)
            assert found is not None
            participant, run = found
            assert participant.id == pid and run is not None and run.id == newest_id
            assert repo.participant_and_active_run(tx=Tx.of_session(session), channel="telegram",
                                                   key="a" * 64, lock=lock) is None


def test_participant_without_waiting_run_gets_none(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        p = _participant(session)
        _run(session, p, "completed")
    with session_scope(db_engine) as session:
        found = repo.participant_and_active_run(tx=Tx.of_session(session), channel="sms",
                                                key="a" * 64)
        assert found is not None and found[1] is None


def test_update_participant_writes_changes_without_a_flush(db_engine: sa.Engine) -> None:
    statements: list[str] = []

    def record(_c: object, _cur: object, statement: str, *_a: object) -> None:
        statements.append(statement)

    with session_scope(db_engine) as session:
        _participant(session)
    with session_scope(db_engine) as session:
        p = session.exec(select(Participant)).one()
        sa.event.listen(db_engine, "before_cursor_execute", record)
        try:
            with statement_log() as raw:
                repo.update_participant(tx=Tx.of_session(session), participant=p, language="en")
                assert statements == [] and raw == []  # unchanged: nothing is written
                repo.update_participant(tx=Tx.of_session(session), participant=p, language="es",
                                        area="Canton", district="Southeast")
            # one UPDATE, on the driver (hot path), none through the unit of work
            assert statements == []
            assert len(raw) == 1 and raw[0].startswith("UPDATE participant")
            assert p.language == "es" and p.area == "Canton"
            assert not session.dirty  # nothing left for the unit of work to flush
        finally:
            sa.event.remove(db_engine, "before_cursor_execute", record)
    with session_scope(db_engine) as session:
        stored = session.exec(select(Participant)).one()
        assert (stored.language, stored.area, stored.district) == ("es", "Canton", "Southeast")


def test_record_consent_on_new_participant_and_rollback(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        p = Participant(key="c" * 64, channel="sms")  # not flushed yet: inserted first
        record_consent(tx=Tx.of_session(session), participant=p, scope="surveys", status="granted",
                       text_version="v1", now=NOW)
        assert p.id is not None and p.consent_surveys == "granted"
    try:
        with session_scope(db_engine) as session:
            p = session.exec(select(Participant)).one()
            record_consent(tx=Tx.of_session(session), participant=p, scope="all",
                           status="opted_out", text_version="keyword", now=NOW)
            raise RuntimeError("crash after the consent was written")
    except RuntimeError:
        pass
    with session_scope(db_engine) as session:
        p = session.exec(select(Participant)).one()
        assert p.consent_surveys == "granted" and not p.opted_out  # the crash rolled it back
        ledger = session.exec(select(ConsentEntry)).all()
        assert [(e.scope, e.status) for e in ledger] == [("surveys", "granted")]
        result = audit.verify(session)
        assert result.ok and result.entries == 1


def test_ensure_participant_creates_in_one_statement(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session, statement_log() as ran:
        participant, run, created = repo.ensure_participant(
            tx=Tx.of_session(session), channel="sms", key="n" * 64, address_enc=b"x", now=NOW)
        assert created and run is None and participant.id is not None
        assert (participant.key, participant.channel, participant.opted_out) == (
            "n" * 64, "sms", False)
        assert participant.created_at == NOW
    assert len(ran) == 1 and ran[0].startswith("INSERT INTO participant")


def test_ensure_participant_finds_one_made_since_the_callers_read(db_engine: sa.Engine) -> None:
    """A concurrent first message made the participant (and its run) between the caller's
    read and the insert: the insert does nothing, and the stored row and run come back."""
    with session_scope(db_engine) as session:
        p = _participant(session, key="m" * 64)
        waiting = _run(session, p, "waiting")
        pid, run_id = p.id, waiting.id
    with session_scope(db_engine) as session:
        participant, run, created = repo.ensure_participant(
            tx=Tx.of_session(session), channel="sms", key="m" * 64, address_enc=b"x", now=NOW)
    assert not created and participant.id == pid and run is not None and run.id == run_id


def test_participant_has_run_matches_campaign_or_session_and_flow(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        p, other = _participant(session, key="h" * 64), _participant(session, key="i" * 64)
        for participant, campaign_id, session_id, flow_id in (
                (p, 7, None, "satisfaction"), (p, None, 3, "dialogue_rsvp"),
                (other, 8, None, "satisfaction"), (other, None, 4, "session_feedback")):
            session.add(Run(participant_id=participant.id, flow_id=flow_id, status="completed",
                            state="{}", campaign_id=campaign_id, session_id=session_id,
                            started_at=NOW, updated_at=NOW))
        session.flush()
        pid = p.id or 0

        def has(**kw: object) -> bool:
            return repo.participant_has_run(tx=Tx.of_session(session), participant_id=pid, **kw)

        assert has(campaign_id=7) and not has(campaign_id=8)
        assert has(session_id=3, flow_id="dialogue_rsvp")
        assert not has(session_id=3, flow_id="session_feedback")
        assert not has(session_id=4, flow_id="session_feedback")  # someone else's

