"""Prepared statements on the DBAPI connection (``storage.sql``): same values as the ORM,
errors as SQLAlchemy's, one transaction shared with ORM work, commit hooks, pipelining."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engage.errors import RetryableError
from engage.outbox.queue import OutboxRow
from engage.storage import repo
from engage.storage.db import session_scope
from engage.storage.records import ParticipantRow, RunRow
from engage.storage.sql import Statement, Tx, as_tx, statement_log, transaction
from engage.storage.tables import Message, Outbox, Participant, Run

NOW = datetime(2026, 7, 1, 16, 0, 0, 123456, tzinfo=UTC)
_OUTBOX = Outbox.__table__
_INSERT_OUTBOX = Statement(insert(_OUTBOX).values(
    {c.name: bindparam(c.name) for c in _OUTBOX.columns if c.name != "id"})
    .returning(_OUTBOX.c.id))
_OUTBOX_BY_ID = Statement(select(_OUTBOX.c.not_before, _OUTBOX.c.address_enc, _OUTBOX.c.status)
                          .where(_OUTBOX.c.id == bindparam("id")))


def _participant(session: Session, key: str = "k" * 64) -> Participant:
    p = Participant(key=key, channel="sms", created_at=NOW)
    session.add(p)
    session.flush()
    return p


def _outbox_values(pid: int, key: str, **extra: object) -> dict[str, object]:
    values: dict[str, object] = {c.name: None for c in _OUTBOX.columns if c.name != "id"}
    values.update(participant_id=pid, channel="sms", kind="reply", body="hello",
                  dedupe_key=key, status="pending", not_before=NOW, attempts=0, created_at=NOW)
    values.update(extra)
    return values


def test_records_have_exactly_their_tables_columns() -> None:
    for record, model in ((ParticipantRow, Participant), (RunRow, Run), (OutboxRow, Outbox)):
        computed = {"earlier"} if record is OutboxRow else set()  # counted by the claim query
        assert {f.name for f in fields(record)} - computed == set(model.__table__.columns.keys())


def test_values_round_trip_exactly_as_the_orm_stores_them(db_engine: sa.Engine) -> None:
    """A row written raw reads back identically through the ORM, and the other way round:
    aware UTC datetimes (microseconds kept), bytes, the same stored text on SQLite."""
    with session_scope(db_engine) as session:
        pid = _participant(session).id
        orm_row = Outbox(participant_id=pid, channel="sms", kind="reply", body="orm",
                         dedupe_key="orm", not_before=NOW, created_at=NOW,
                         address_enc=b"\x00\xffblob")
        session.add(orm_row)
        session.flush()
        tx = as_tx(session)
        raw_id = tx.scalar(_INSERT_OUTBOX, _outbox_values(pid, "raw", address_enc=b"\x00\xffblob"))
        assert tx.first(_OUTBOX_BY_ID, {"id": orm_row.id}) == (NOW, b"\x00\xffblob", "pending")
        assert tx.first(_OUTBOX_BY_ID, {"id": raw_id}) == (NOW, b"\x00\xffblob", "pending")
    with session_scope(db_engine) as session:
        raw = session.get(Outbox, raw_id)
        assert raw is not None and raw.not_before == NOW and raw.not_before.tzinfo is not None
        # the comparison a scheduler makes in SQL sees both rows the same way
        due = session.exec(select(Outbox.id).where(Outbox.not_before <= NOW + timedelta(0)))
        assert sorted(due.scalars()) == sorted([orm_row.id, raw_id])
        if db_engine.dialect.name == "sqlite":
            stored = session.execute(sa.text("SELECT not_before FROM outbox ORDER BY id")).all()
            assert stored[0] == stored[1]  # the very same text in the file


def test_naive_datetimes_are_refused_before_anything_is_written(db_engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="naive datetime"), transaction(db_engine) as tx:
        tx.scalar(_INSERT_OUTBOX, _outbox_values(1, "x", not_before=datetime(2026, 7, 1)))


def test_driver_errors_are_sqlalchemys_and_hide_parameters(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        pid = _participant(session).id
        as_tx(session).scalar(_INSERT_OUTBOX, _outbox_values(pid, "dup"))
    secret_body = "call me at 410-555-1234"
    with pytest.raises(IntegrityError) as info, transaction(db_engine) as tx:
        plain = Statement(insert(_OUTBOX).values(
            {c.name: bindparam(c.name) for c in _OUTBOX.columns if c.name != "id"}))
        tx.execute(plain, _outbox_values(pid, "dup", body=secret_body))
    assert secret_body not in str(info.value)


def test_an_in_list_cannot_be_prepared() -> None:
    statement = Statement(select(_OUTBOX.c.id).where(_OUTBOX.c.status.in_(("a", "b"))))
    with pytest.raises(ValueError, match="IN list"):
        statement.prepared(sa.create_engine("sqlite://").dialect)


def test_raw_and_orm_work_share_one_transaction(db_engine: sa.Engine) -> None:
    """The Tx's joined session sees raw writes and vice versa; a failure rolls back both."""
    with pytest.raises(RuntimeError), transaction(db_engine) as tx:
        repo.create_participant(tx=tx, channel="sms", key="a" * 64, address_enc=b"x",
                                now=NOW)
        orm = tx.orm_session().execute(select(Participant)).scalars().one()
        tx.orm_session().add(Run(participant_id=orm.id, flow_id="f", state="{}", started_at=NOW,
                           updated_at=NOW))
        tx.flush()
        assert repo.active_run(tx=tx, participant_id=orm.id or 0) is not None
        raise RuntimeError("crash")
    with Session(db_engine) as session:
        assert session.execute(select(sa.func.count()).select_from(Participant)).scalar() == 0
        assert session.execute(select(sa.func.count()).select_from(Run)).scalar() == 0


def test_commit_hooks_fire_once_and_only_on_their_outcome(db_engine: sa.Engine) -> None:
    seen: list[str] = []
    with transaction(db_engine) as tx:
        tx.after_commit(lambda: seen.append("committed"), lambda: seen.append("rolled back"))
    with pytest.raises(RuntimeError), transaction(db_engine) as tx:
        tx.after_commit(lambda: seen.append("committed 2"), lambda: seen.append("rolled back 2"))
        raise RuntimeError("crash")
    with session_scope(db_engine) as session:  # a caller's session owns the transaction
        as_tx(session).after_commit(lambda: seen.append("session committed"),
                                    lambda: seen.append("session rolled back"))
    assert seen == ["committed", "rolled back 2", "session committed"]


def test_of_session_is_one_tx_per_transaction(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        first = Tx.of_session(session)
        assert Tx.of_session(session) is first
        assert as_tx(first.orm_session()) is first  # the joined session leads back to it
    with session_scope(db_engine) as session:
        assert Tx.of_session(session) is not first


def test_send_is_pipelined_on_postgresql_and_errors_still_roll_back(
    db_engine: sa.Engine,
) -> None:
    """Writes sent without waiting still fail the transaction they belong to."""
    with session_scope(db_engine) as session:
        pid = _participant(session).id
    plain = Statement(insert(_OUTBOX).values(
        {c.name: bindparam(c.name) for c in _OUTBOX.columns if c.name != "id"}))
    with statement_log() as ran, transaction(db_engine, pipelined=True) as tx:
        tx.send(plain, _outbox_values(pid, "one"))
        tx.send(plain, _outbox_values(pid, "two"))
        assert tx.scalar(Statement(select(sa.func.count()).select_from(_OUTBOX))) == 2
    assert len(ran) == 3
    with pytest.raises((IntegrityError, RetryableError)), \
            transaction(db_engine, pipelined=True) as tx:
        tx.send(plain, _outbox_values(pid, "three"))
        tx.send(plain, _outbox_values(pid, "one"))  # duplicate dedupe key
    with Session(db_engine) as session:
        keys = session.execute(select(Outbox.dedupe_key).order_by(Outbox.id)).scalars().all()
    assert keys == ["one", "two"]


def test_a_redelivered_inbound_message_fails_its_transaction(db_engine: sa.Engine) -> None:
    """One way to store an inbound message: a second row for the same provider id is refused
    by the unique index (the caller's retry then finds the first)."""
    with session_scope(db_engine) as session:
        pid = _participant(session).id
    assert pid is not None
    with transaction(db_engine) as tx:
        repo.queue_inbound_message(tx=tx, participant_id=pid, channel="sms",
                                   provider_id="SM1", body="hi", now=NOW)
    with pytest.raises((IntegrityError, RetryableError)), transaction(db_engine) as tx:
        repo.queue_inbound_message(tx=tx, participant_id=pid, channel="sms",
                                   provider_id="SM1", body="hi", now=NOW)
    with Session(db_engine) as session:
        assert session.execute(select(sa.func.count()).select_from(Message)).scalar() == 1


_COUNT_OUTBOX = Statement(select(sa.func.count()).select_from(_OUTBOX))
_KEYS = Statement(select(_OUTBOX.c.dedupe_key).order_by(_OUTBOX.c.id))


def test_reads_for_later_come_back_with_the_next_sync(db_engine: sa.Engine) -> None:
    """``all_later``: reads sent now see every write before them (queued ones included) and
    none after; their rows can be taken after the commit they travelled with."""
    with session_scope(db_engine) as session:
        pid = _participant(session).id
    plain = Statement(insert(_OUTBOX).values(
        {c.name: bindparam(c.name) for c in _OUTBOX.columns if c.name != "id"}))
    with transaction(db_engine, pipelined=True) as tx:
        tx.deferring = True
        tx.defer(plain, _outbox_values(pid, "one"))
        count_then = tx.all_later(_COUNT_OUTBOX)
        tx.send(plain, _outbox_values(pid, "two"))
        keys_then = tx.all_later(_KEYS)
        tx.defer(plain, _outbox_values(pid, "three"))
        assert tx.scalar(_COUNT_OUTBOX) == 3  # a plain read answers both earlier ones too
        last = tx.all_later(_KEYS)  # the last statement: it travels with the COMMIT
    assert count_then() == [(1,)]
    assert keys_then() == [("one",), ("two",)]
    assert last() == [("one",), ("two",), ("three",)]


def test_a_failing_read_for_later_fails_its_transaction(db_engine: sa.Engine) -> None:
    with session_scope(db_engine) as session:
        pid = _participant(session).id
    plain = Statement(insert(_OUTBOX).values(
        {c.name: bindparam(c.name) for c in _OUTBOX.columns if c.name != "id"}))
    bad = Statement(lambda d: sa.text(  # fails as it runs, not as it is parsed
        "SELECT 1 / (count(*) - count(*)) FROM outbox" if d == "postgresql"
        else "SELECT json('{') FROM outbox"))
    with pytest.raises((sa.exc.DBAPIError, RetryableError)), \
            transaction(db_engine, pipelined=True) as tx:
        tx.send(plain, _outbox_values(pid, "kept?"))
        rows = tx.all_later(bad)
        rows()
    with Session(db_engine) as session:
        assert session.execute(select(sa.func.count()).select_from(Outbox)).scalar() == 0

