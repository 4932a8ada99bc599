"""FlowCatalog: a published version id is shared only once its transaction has committed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from engage.flows_catalog import FlowCatalog
from engage.storage.db import new_session
from engage.storage.tables import FlowVersion

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def _cached(catalog: FlowCatalog) -> dict[tuple[str, str], int]:
    return dict(catalog._version_ids)


def test_own_uncommitted_version_is_not_shared_before_commit(db_engine: Engine,
                                                             catalog: FlowCatalog) -> None:
    flow = catalog.get("satisfaction")
    session = new_session(db_engine)
    try:
        first = catalog.version_id(session, flow, now=NOW)
        again = catalog.version_id(session, flow, now=NOW)  # sees its own uncommitted row
        assert again == first
        assert _cached(catalog) == {}, "an uncommitted id must not reach other transactions"
        session.commit()
    finally:
        session.close()
    assert _cached(catalog) == {(flow.id, flow.digest): first}


def test_rolled_back_version_is_forgotten(db_engine: Engine, catalog: FlowCatalog) -> None:
    flow = catalog.get("satisfaction")
    session = new_session(db_engine)
    try:
        catalog.version_id(session, flow, now=NOW)
        catalog.version_id(session, flow, now=NOW)
        session.rollback()
        session.commit()  # a later commit of the same session must not revive the old id
    finally:
        session.close()
    assert _cached(catalog) == {}
    session = new_session(db_engine)
    try:
        kept = catalog.version_id(session, flow, now=NOW)
        session.commit()
        assert session.exec(select(func.count()).select_from(FlowVersion)).one() == 1
        assert session.get(FlowVersion, kept) is not None
    finally:
        session.close()
    assert _cached(catalog) == {(flow.id, flow.digest): kept}


@pytest.mark.parametrize("flow_id", ["dialogue_rsvp", "session_feedback"])
def test_committed_version_found_by_another_transaction_is_cached_at_once(
        db_engine: Engine, catalog: FlowCatalog, settings: object, flow_id: str) -> None:
    flow = catalog.get(flow_id)
    publisher = FlowCatalog(catalog.flows_dir)
    session = new_session(db_engine)
    try:
        published = publisher.version_id(session, flow, now=NOW)
        session.commit()
    finally:
        session.close()
    session = new_session(db_engine)
    try:
        assert catalog.version_id(session, flow, now=NOW) == published
        assert _cached(catalog) == {(flow.id, flow.digest): published}
        session.rollback()
    finally:
        session.close()


def test_a_transaction_asks_the_database_once_for_the_version_it_published(
    db_engine: Engine, catalog: FlowCatalog,
) -> None:
    """A campaign's first batch starts hundreds of runs in the transaction that published
    the flow: after the first, they cost no statement (and do not wait on the row)."""
    flow = catalog.get("satisfaction")
    seen: list[str] = []

    def record(_c: object, _cur: object, statement: str, *_a: object) -> None:
        seen.append(statement)

    session = new_session(db_engine)
    try:
        first = catalog.version_id(session, flow, now=NOW)
        event.listen(db_engine, "before_cursor_execute", record)
        try:
            assert [catalog.version_id(session, flow, now=NOW) for _ in range(3)] == [first] * 3
        finally:
            event.remove(db_engine, "before_cursor_execute", record)
        assert seen == []
        assert _cached(catalog) == {}  # still not shared before the commit
        session.rollback()
    finally:
        session.close()
    assert _cached(catalog) == {}

