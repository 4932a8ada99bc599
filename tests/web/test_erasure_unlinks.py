"""After DELETE nothing in the database joins to the provider's logs (no Twilio SIDs, no
inbound MessageSids in dedupe keys), the erased text does not survive in SQLite's files, and
the database is created owner-only."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, select

from engage.scheduling.ticks import Ticks
from engage.storage.db import make_engine
from engage.storage.tables import Message, Outbox
from tests.web.conftest import SmsHarness
from tests.web.stored_text import everything_stored

RESIDENT = "+14105550142"
WORD = "Zebrafishmarker"


async def test_erasure_clears_provider_ids_and_inbound_sids(sms: SmsHarness) -> None:
    inbound_sids = []
    for i, text in enumerate(["Hello", "YES", f"{WORD} is my word", "1", "DELETE"]):
        sid = f"SM{0xE0000 + i:032x}"
        inbound_sids.append(sid)
        await sms.say(text, from_=RESIDENT, sid=sid)
    outbound_sids = [m.sid for m in sms.api.messages if m.to == RESIDENT]
    assert len(outbound_sids) >= 3  # replies, then the erasure confirmation
    ticks = Ticks(engine=sms.engine, settings=sms.settings, runtime=None)  # type: ignore[arg-type]
    ticks.erasure(datetime(2026, 7, 1, 17, 0, tzinfo=UTC))
    stored = everything_stored(sms.engine)
    for sid in inbound_sids + outbound_sids:
        assert sid not in stored
    assert WORD not in stored
    with Session(sms.engine) as session:
        assert all(o.provider_id is None for o in session.exec(select(Outbox)))
        kept = session.exec(select(Message)).all()
        assert [(m.participant_id, m.body) for m in kept if m.direction == "in"] == [(None, None)]
    # a redelivery of the DELETE is still recognised: no new participant, no new confirmation
    before = len(sms.api.messages)
    counted = everything_stored(sms.engine)
    assert await sms.say("DELETE", from_=RESIDENT, sid=inbound_sids[-1]) == []
    assert len(sms.api.messages) == before and everything_stored(sms.engine) == counted


async def test_sqlite_erased_text_is_not_left_in_the_files(sms: SmsHarness) -> None:
    if sms.engine.dialect.name != "sqlite":
        return
    with sms.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    await sms.say(f"{WORD} hello", from_=RESIDENT)
    await sms.say("DELETE", from_=RESIDENT)
    database = Path(str(sms.engine.url.database))
    for path in (database, Path(f"{database}-wal")):
        if path.exists():
            assert WORD.encode() not in path.read_bytes(), path.name


def test_the_database_file_and_its_directory_are_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "data" / "engage.sqlite3"
    engine = make_engine(f"sqlite:///{target}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
        for path in (target, Path(f"{target}-wal")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    finally:
        engine.dispose()
