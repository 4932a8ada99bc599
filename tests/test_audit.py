"""The hash-chained audit log detects altered, inserted and removed rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import sqlalchemy as sa
from sqlmodel import select
from typer.testing import CliRunner

from engage import audit
from engage.cli import app
from engage.storage.db import session_scope
from engage.storage.tables import AuditEntry

NOW = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)


def _fill(engine: sa.Engine, n: int = 5) -> None:
    with session_scope(engine) as session:
        for i in range(n):
            audit.append(session=session, actor="staff:ana", action="export.created",
                         subject=f"export:{i}", details={"rows": i, "period": "2026Q3"},
                         now=NOW + timedelta(seconds=i))


def _verify(engine: sa.Engine) -> audit.VerifyResult:
    with session_scope(engine) as session:
        return audit.verify(session)


def test_intact_chain_verifies(db_engine: sa.Engine) -> None:
    assert _verify(db_engine).ok  # empty
    _fill(db_engine)
    result = _verify(db_engine)
    assert result.ok and result.entries == 5
    with session_scope(db_engine) as session:
        rows = session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in pairwise(rows))


@pytest.mark.parametrize("column", ["actor", "action", "subject", "details", "at"])
def test_altered_row_is_named(db_engine: sa.Engine, column: str) -> None:
    _fill(db_engine)
    values = {"actor": "staff:eve", "action": "export.deleted", "subject": "export:99",
              "details": '{"period":"2026Q3","rows":999}', "at": NOW + timedelta(days=1)}
    with session_scope(db_engine) as session:
        session.execute(sa.update(AuditEntry).where(AuditEntry.seq == 3)
                        .values({column: values[column]}))
    result = _verify(db_engine)
    assert not result.ok and result.first_bad_seq == 3 and "altered" in (result.reason or "")


def test_removed_row_is_detected(db_engine: sa.Engine) -> None:
    _fill(db_engine)
    with session_scope(db_engine) as session:
        session.execute(sa.delete(AuditEntry).where(AuditEntry.seq == 2))
    result = _verify(db_engine)
    assert not result.ok and result.first_bad_seq == 3


def test_removed_and_renumbered_row_is_detected(db_engine: sa.Engine) -> None:
    _fill(db_engine)
    with session_scope(db_engine) as session:
        session.execute(sa.delete(AuditEntry).where(AuditEntry.seq == 2))
        for seq in (3, 4, 5):
            session.execute(sa.update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq - 1))
    result = _verify(db_engine)
    assert not result.ok and result.first_bad_seq == 2


def test_inserted_row_is_detected(db_engine: sa.Engine) -> None:
    _fill(db_engine)
    with session_scope(db_engine) as session:
        rows = session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()
        # shift 4 and 5 up, forge a new 4 that links to 3 (but 5 still links to the old 4)
        for seq in (5, 4):
            session.execute(sa.update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq + 1))
        forged_hash = audit.compute_hash(prev_hash=rows[2].hash, seq=4, at=NOW, actor="staff:eve",
                                         action="consent.granted", subject="participant:1",
                                         details="{}")
        session.add(AuditEntry(seq=4, at=NOW, actor="staff:eve", action="consent.granted",
                               subject="participant:1", details="{}", prev_hash=rows[2].hash,
                               hash=forged_hash))
    result = _verify(db_engine)
    # without the key the forger can only make an unkeyed hash: the forged entry itself shows
    assert not result.ok and result.first_bad_seq == 4 and "without the key" in (result.reason
                                                                                 or "")


def test_naive_time_rejected(db_engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="naive"), session_scope(db_engine) as session:
        audit.append(session=session, actor="x", action="y", now=datetime(2026, 1, 1))


def test_cli_verify_exit_codes(db_engine: sa.Engine, db_url: str) -> None:
    _fill(db_engine, 3)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--url", db_url])
    assert ok.exit_code == 0, ok.output
    assert "intact: 3 entries" in ok.output
    with session_scope(db_engine) as session:
        session.execute(sa.update(AuditEntry).where(AuditEntry.seq == 2).values(actor="staff:eve"))
    bad = runner.invoke(app, ["audit", "verify", "--url", db_url])
    assert bad.exit_code == 1
    assert "seq=2" in bad.output
    assert "Traceback" not in bad.output


def test_appends_in_one_transaction_read_the_chain_head_once(db_engine: sa.Engine) -> None:
    """A batch of inbound messages appends several consent entries in one transaction: the
    head is read once (appends are serialized until commit), and the chain stays intact."""
    from engage.storage.sql import statement_log, transaction

    _fill(db_engine, 2)
    with transaction(db_engine) as tx, statement_log() as log:
        written = [audit.append(session=tx, actor="participant", action="consent.granted",
                                subject=f"participant:{i}", details={"scope": "surveys"},
                                now=NOW + timedelta(minutes=i)) for i in range(3)]
    assert [w.seq for w in written] == [3, 4, 5]
    assert len([sql for sql in log if "FROM audit_log" in sql]) == 1
    result = _verify(db_engine)
    assert result.ok and result.entries == 5
    with transaction(db_engine) as tx:  # a new transaction reads the head again
        assert audit.append(session=tx, actor="system", action="flow.published",
                            now=NOW + timedelta(hours=1)).seq == 6
    assert _verify(db_engine).ok
