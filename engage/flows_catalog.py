"""The flows a deployment knows: current definitions from ``flows/`` and every published
version from the database, so a run always finishes on the version it started on.

Publishing is idempotent by digest: restarting with unchanged files writes nothing; an edited
file becomes a new ``FlowVersion`` row (and an audit entry) while old runs keep theirs.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from engage.errors import UserError
from engage.flow import Flow, flow_from_dict, load_flows
from engage.storage.repo import dialect_insert
from engage.storage.sql import Tx, as_tx
from engage.storage.tables import FlowVersion

# Tx.info key: (flow id, digest) -> id of the versions this transaction inserted, not committed
_PENDING = "engage.flow_versions_pending"


class FlowCatalog:
    """Current flows (loaded lazily once) plus a cache of published versions by id."""

    def __init__(self, flows_dir: str | Path) -> None:
        self.flows_dir = Path(flows_dir)
        self._flows: dict[str, Flow] | None = None
        self._by_version: dict[int, Flow] = {}
        self._version_ids: dict[tuple[str, str], int] = {}  # (flow id, digest) -> row id
        self._lock = threading.Lock()

    # -- current definitions --------------------------------------------------------------
    def flows(self) -> dict[str, Flow]:
        if self._flows is None:
            with self._lock:
                if self._flows is None:
                    self._flows = load_flows(self.flows_dir)
        return self._flows

    def get(self, flow_id: str) -> Flow:
        try:
            return self.flows()[flow_id]
        except KeyError:
            raise UserError(f"unknown flow {flow_id!r} (not in {self.flows_dir})") from None

    def __contains__(self, flow_id: object) -> bool:
        return flow_id in self.flows()

    # -- published versions ---------------------------------------------------------------
    def publish(self, session: Session, *, now: datetime | None = None) -> list[FlowVersion]:
        """Make sure every current flow has a FlowVersion row; returns them all."""
        return [self._publish_one(as_tx(session), flow, now or datetime.now(UTC))[0]
                for flow in self.flows().values()]

    def version_id(self, session: Session | Tx, flow: Flow, *, now: datetime) -> int:
        """The FlowVersion id for ``flow`` (published on first use). Cached: the hot path
        costs nothing after the first call."""
        key = (flow.id, flow.digest)
        cached = self._version_ids.get(key)
        if cached is not None:
            return cached
        tx = as_tx(session)
        ours = tx.info.get(_PENDING, {}).get(key)
        if ours is not None:  # published by this very transaction (a campaign's first batch)
            return int(ours)
        row, _ = self._publish_one(tx, flow, now)
        assert row.id is not None
        return row.id

    def _publish_one(self, tx: Tx, flow: Flow, now: datetime) -> tuple[FlowVersion, bool]:
        from engage import audit

        session = tx.orm_session()
        insert = dialect_insert(session, FlowVersion)
        if not isinstance(insert, postgresql.Insert | sqlite.Insert):
            raise TypeError(f"{type(insert).__name__} has no ON CONFLICT clause")
        stmt = (
            insert
            .values(flow_id=flow.id, version=str(flow.version), digest=flow.digest,
                    definition=json.dumps(flow.to_dict(), sort_keys=True, ensure_ascii=False),
                    published_at=now)
            .on_conflict_do_nothing(index_elements=["flow_id", "digest"])
            .returning(col(FlowVersion.id))
        )
        created = session.execute(stmt).first() is not None
        row = session.exec(
            select(FlowVersion).where(FlowVersion.flow_id == flow.id,
                                      FlowVersion.digest == flow.digest)
        ).one()
        if created:
            audit.append(session=tx, actor="system", action="flow.published",
                         subject=f"flow:{flow.id}",
                         details={"version": str(flow.version), "digest": flow.digest,
                                  "flow_version_id": row.id}, now=now)
        assert row.id is not None
        version_id = row.id
        pending: dict[tuple[str, str], int] = tx.info.setdefault(_PENDING, {})
        key = (flow.id, flow.digest)
        if created:
            pending[key] = version_id
            self._remember_after_commit(tx, flow, version_id)
        elif key not in pending:  # committed by someone else: safe to share at once
            self._remember(flow, version_id)
        # else: our own uncommitted insert. Other transactions cannot see it yet (a run that
        # references it would break the foreign key) and it may still roll back.
        return row, created

    def _remember_after_commit(self, tx: Tx, flow: Flow, version_id: int) -> None:
        """Cache ``version_id`` when this transaction commits; forget it if it rolls back."""
        key = (flow.id, flow.digest)
        settled = False

        def committed() -> None:
            nonlocal settled
            if not settled:
                settled = True
                tx.info.get(_PENDING, {}).pop(key, None)
                self._remember(flow, version_id)

        def rolled_back() -> None:
            nonlocal settled
            if not settled:
                settled = True
                tx.info.get(_PENDING, {}).pop(key, None)

        tx.after_commit(committed, rolled_back)

    def _remember(self, flow: Flow, version_id: int | None) -> None:
        if version_id is not None:
            self._version_ids[(flow.id, flow.digest)] = version_id
            self._by_version[version_id] = flow

    def version(self, session: Session | Tx, flow_version_id: int) -> Flow:
        """The exact flow a run started on (from the cache, else the stored definition)."""
        cached = self._by_version.get(flow_version_id)
        if cached is not None:
            return cached
        row = as_tx(session).orm_session().get(FlowVersion, flow_version_id)
        if row is None:
            raise UserError(f"flow version {flow_version_id} is not published")
        flow = flow_from_dict(json.loads(row.definition))
        self._by_version[flow_version_id] = flow
        return flow
