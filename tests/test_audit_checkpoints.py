"""The keyed chain and its signed checkpoints catch what a consistent-looking chain hides:
removal at the end, removal of everything, a rewrite with recomputed hashes, and a forged
checkpoint; legacy (unkeyed) chains are sealed, not rejected."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select
from typer.testing import CliRunner

from engage import audit, audit_checkpoints
from engage.cli import app
from engage.config import Settings
from engage.storage.db import session_scope
from engage.storage.tables import AuditEntry

NOW = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)


def _fill(engine: sa.Engine, n: int, start: int = 0, key: bytes | None = None) -> None:
    with session_scope(engine) as session:
        for i in range(start, start + n):
            audit.append(session=session, actor="staff:ana", action="export.created",
                         subject=f"export:{i}", details={"rows": i}, key=key,
                         now=NOW + timedelta(seconds=i))


def _cli(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", *args, "--url", db_url])
    return result.exit_code, result.output


def _delete(engine: sa.Engine, where: object) -> None:
    with session_scope(engine) as session:
        session.execute(sa.delete(AuditEntry).where(where))  # type: ignore[arg-type]


def test_entries_are_keyed_so_the_chain_cannot_be_recomputed_without_the_secret(
        db_engine: sa.Engine, settings: Settings) -> None:
    _fill(db_engine, 3)
    with session_scope(db_engine) as session:
        rows = session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()
        plain = [audit.compute_hash(prev_hash=r.prev_hash, seq=r.seq, at=r.at, actor=r.actor,
                                    action=r.action, subject=r.subject, details=r.details)
                 for r in rows]
        assert all(p != r.hash for p, r in zip(plain, rows, strict=True))
        assert audit.verify(session).ok
        other = audit.chain_key(b"another-secret-" + b"k" * 40)
        assert not audit.verify(session, key=other).ok


def test_removal_at_the_end_is_reported_with_what_is_missing(
        db_engine: sa.Engine, db_url: str, settings: Settings) -> None:
    _fill(db_engine, 6)
    code, out = _cli(db_url, "checkpoint")
    assert code == 0 and '"seq":6' in out
    _delete(db_engine, AuditEntry.seq >= 5)
    with session_scope(db_engine) as session:
        assert audit.verify(session).ok  # the shortened chain is consistent on its own ...
    code, out = _cli(db_url, "verify")
    assert code == 1  # ... but the checkpoint vouches for more
    assert "the last 2 entries were removed (seq 5..6)" in out
    assert "chain ends at seq 4" in out


def test_removal_of_everything_is_reported(db_engine: sa.Engine, db_url: str,
                                           settings: Settings) -> None:
    _fill(db_engine, 3)
    assert _cli(db_url, "checkpoint")[0] == 0
    _delete(db_engine, AuditEntry.seq > 0)
    code, out = _cli(db_url, "verify")
    assert code == 1 and "all entries were removed" in out and "vouches for 3" in out


def test_a_rewrite_with_the_key_is_caught_by_the_checkpoint(
        db_engine: sa.Engine, db_url: str, settings: Settings) -> None:
    """Someone with the secret deletes entry 2 and recomputes 3 and 4 as 2 and 3 (every link
    and keyed hash right): only the checkpoint, outside the database, shows it."""
    _fill(db_engine, 4)
    assert _cli(db_url, "checkpoint")[0] == 0
    _delete(db_engine, AuditEntry.seq > 0)
    _fill(db_engine, 4, start=10)  # a whole new chain of 4 entries, correctly keyed
    with session_scope(db_engine) as session:
        assert audit.verify(session).ok
    code, out = _cli(db_url, "verify")
    assert code == 1 and "rewritten: entry seq=4" in out


def test_a_rewrite_without_the_key_names_the_entry(db_engine: sa.Engine, db_url: str,
                                                   settings: Settings) -> None:
    _fill(db_engine, 4)
    with session_scope(db_engine) as session:  # delete #2 and recompute the rest, unkeyed
        session.execute(sa.delete(AuditEntry).where(AuditEntry.seq == 2))
        rows = session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()
        prev = rows[0].hash
        for seq, row in enumerate(rows[1:], start=2):
            row.seq, row.prev_hash = seq, prev
            row.hash = prev = audit.compute_hash(
                prev_hash=prev, seq=seq, at=row.at, actor=row.actor, action=row.action,
                subject=row.subject, details=row.details)
            session.add(row)
    code, out = _cli(db_url, "verify")
    assert code == 1 and "seq=2" in out and "without the key" in out


def test_checkpoints_are_owner_only_signed_and_forgeries_ignored(
        db_engine: sa.Engine, db_url: str, settings: Settings) -> None:
    _fill(db_engine, 2)
    assert _cli(db_url, "checkpoint")[0] == 0
    path = audit_checkpoints.path_for(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    forged = json.loads(path.read_text().splitlines()[-1])
    forged["seq"] = 1  # a database-only attacker "lowers" the checkpoint to hide removals
    with path.open("a") as handle:
        handle.write(json.dumps(forged, separators=(",", ":")) + "\n")
    _delete(db_engine, AuditEntry.seq == 2)
    code, out = _cli(db_url, "verify")
    assert code == 1 and "the last 1 entries were removed" in out
    assert "wrong signature" in out


def test_every_export_manifest_carries_a_checkpoint_that_verify_reads(
        db_engine: sa.Engine, db_url: str, settings: Settings, tmp_path: Path) -> None:
    from engage.analytics.exports import export_summary

    _fill(db_engine, 2)
    out = tmp_path / "summary.csv"
    result = export_summary(engine=db_engine, settings=settings, period="2026Q3",
                            by="district", fmt="csv", out=out, now=NOW)
    lines = result.manifest.read_text().splitlines()
    assert lines[0].endswith("  summary.csv")
    assert lines[1].startswith('# {"audit_checkpoint":1,"seq":3,')  # the export's entry too
    assert os.system(f"cd {tmp_path} && sha256sum --strict -c --quiet "
                     f"{result.manifest.name}") == 0
    # the data directory's copy is gone; the manifest alone still shows the removal
    audit_checkpoints.path_for(settings).unlink()
    _delete(db_engine, AuditEntry.seq == 3)
    code, out = _cli(db_url, "verify", "--checkpoint", str(result.manifest))
    assert code == 1 and "the last 1 entries were removed (seq 3..3)" in out


def test_the_log_carries_each_checkpoint_verbatim(
        db_engine: sa.Engine, db_url: str, settings: Settings, tmp_path: Path) -> None:
    import logging

    from engage.logging import configure

    log_file = tmp_path / "engage.log"
    configure("INFO", json_lines=False)
    handler = logging.getLogger("engage").handlers[-1]
    file_handler = logging.FileHandler(log_file)
    for f in handler.filters:
        file_handler.addFilter(f)
    logging.getLogger("engage").addHandler(file_handler)
    try:
        _fill(db_engine, 2)
        taken = audit_checkpoints.take(db_engine, settings, now=NOW)
    finally:
        logging.getLogger("engage").removeHandler(file_handler)
        file_handler.close()
    assert taken.line() in log_file.read_text()  # not mangled by the log's scrubber
    audit_checkpoints.path_for(settings).unlink()
    _delete(db_engine, AuditEntry.seq == 2)
    code, out = _cli(db_url, "verify", "--checkpoint", str(log_file))
    assert code == 1 and "removed" in out


def test_the_leader_tick_checkpoints_only_when_the_chain_grew(
        db_engine: sa.Engine, settings: Settings) -> None:
    _fill(db_engine, 2)
    first = audit_checkpoints.take(db_engine, settings, now=NOW, force=False)
    again = audit_checkpoints.take(db_engine, settings, now=NOW + timedelta(minutes=5),
                                   force=False)
    assert first == again
    _fill(db_engine, 1, start=5)
    grown = audit_checkpoints.take(db_engine, settings, now=NOW + timedelta(minutes=10),
                                   force=False)
    assert grown.seq == 3
    assert len(audit_checkpoints.path_for(settings).read_text().splitlines()) == 2


def test_a_legacy_chain_is_sealed_and_then_protected(
        db_engine: sa.Engine, db_url: str, settings: Settings) -> None:
    """Entries written before keying (plain SHA-256) verify once a keyed entry seals them;
    after that, an unkeyed entry is an alteration."""
    with session_scope(db_engine) as session:  # written the old way, hash by hash
        prev = audit.GENESIS
        for seq in (1, 2, 3):
            at = NOW + timedelta(seconds=seq)
            digest = audit.compute_hash(prev_hash=prev, seq=seq, at=at, actor="system",
                                        action="flow.published", subject=None, details="{}")
            session.add(AuditEntry(seq=seq, at=at, actor="system", action="flow.published",
                                   subject=None, details="{}", prev_hash=prev, hash=digest))
            prev = digest
    code, out = _cli(db_url, "verify")
    assert code == 1 and "unsealed" in out
    code, out = _cli(db_url, "seal")
    assert code == 0 and "sealed 3" in out
    assert _cli(db_url, "seal")[1].startswith("nothing to seal")
    _fill(db_engine, 2, start=20)
    code, out = _cli(db_url, "verify")
    assert code == 0 and "5 written before keying" not in out and "3 written before" in out
    with session_scope(db_engine) as session:  # alter a legacy entry: the seal links to it
        session.execute(sa.update(AuditEntry).where(AuditEntry.seq == 2)
                        .values(actor="staff:eve"))
    code, out = _cli(db_url, "verify")
    assert code == 1 and "seq=2" in out
