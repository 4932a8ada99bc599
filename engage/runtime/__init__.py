"""The one impure loop: inbound message -> dedupe -> lock -> keywords -> engine -> storage.

Everything for one inbound message happens in ONE database transaction: the inbound row, the
participant, consent ledger entries, responses, the run's new state, audit entries and the
outbound messages (as outbox rows). A crash anywhere rolls all of it back, and because the
provider retries unacknowledged deliveries, nothing acknowledged is ever lost and nothing is
processed twice (inbound rows are unique on (channel, provider id); outbox rows on a dedupe key
derived from the inbound message).

Messages that arrive together share a transaction (group commit, ``storage.group_commit``):
each caller still returns only once the transaction holding its message has committed.

The statements run on the transaction's DBAPI connection (``storage.sql``): this is the hot
path, and SQLAlchemy's per-call overhead was most of its cost.

``Runtime`` only wires the modules of this package together:

- ``inbound``: validation, the batch transaction, dedupe, one message's way through;
- ``keywords``: one handler per keyword kind; ``events``: one handler per engine event;
- ``conversation``: answering the waiting run, starting flows; ``outbound``: outbox rows;
- ``campaign_starts``, ``wakeups``, ``opt_outs``: the other ways in;
- ``hooks``: dialogue and deliberation features; ``texts``: the fixed compliance texts.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from engage.analytics import sentiment
from engage.clock import Clock, utcnow
from engage.config import Settings
from engage.flow.engine import HOLD
from engage.flows_catalog import FlowCatalog
from engage.logging import log_event
from engage.runtime import campaign_starts, inbound, opt_outs, wakeups
from engage.runtime.context import InboundOutcome, Job, Services, log
from engage.storage.db import is_sqlite
from engage.storage.group_commit import GroupCommit
from engage.storage.records import RunRow
from engage.storage.sql import KeptConnection
from engage.storage.tables import Participant

__all__ = ["HOLD", "InboundOutcome", "Runtime"]

# Inbound messages per shared transaction at most. One batch is written at a time per
# process, on both databases: a bigger batch beats parallel smaller ones, since each commit
# costs an fsync and each statement a round trip. Several web processes still commit in
# parallel.
MAX_BATCH = 64



class Runtime:
    """Handles inbound messages, campaign starts and engine wake-ups against one database."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        catalog: FlowCatalog,
        clock: Clock = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.catalog = catalog
        self.clock = clock
        self._services = Services(
            engine=engine, settings=settings, catalog=catalog, secret=settings.secret_bytes(),
            score=sentiment.score, score_version=sentiment.SCORER_VERSION,
            is_pg=engine.dialect.name == "postgresql", is_sqlite=is_sqlite(engine))
        # one batch at a time (see MAX_BATCH), on a connection kept between batches. The
        # batch function does not refer back to this object, so a Runtime dropped without
        # close() is freed at once and its finalizer hands the connection back to the pool
        # (a reference cycle would keep it checked out until the next full garbage collection)
        self._kept = KeptConnection(engine)
        self._commits: GroupCommit[Job, InboundOutcome] = GroupCommit(
            functools.partial(inbound.run_batch, self._services, self._kept),
            max_batch=MAX_BATCH)
        weakref.finalize(self, self._kept.close)

    # ---------------------------------------------------------------- inbound ---------------
    def handle_inbound(self, message: Any) -> InboundOutcome:
        """Handle one authenticated inbound message; returns once it is committed.

        Raises ``UserError`` for a garbled message (nothing stored) and ``RetryableError`` when
        the database is down or locked (the webhook must answer 5xx so the provider retries).
        """
        job = self._job(message)
        return self._logged(job, self._commits.submit(job))

    async def handle_inbound_async(self, message: Any) -> InboundOutcome:
        """``handle_inbound`` for the webhooks' event loop: the caller waits as a future,
        the transaction runs on a worker thread, one thread hop per batch."""
        job = self._job(message)
        return self._logged(job, await self._commits.submit_async(job))

    def _job(self, message: Any) -> Job:
        return inbound.make_job(self._services, message, self.clock())

    def _run_batch(self, jobs: Sequence[Job]) -> list[InboundOutcome | BaseException]:
        """One batch in the caller's thread (tests drive batches of chosen sizes)."""
        return inbound.run_batch(self._services, self._kept, jobs)

    @staticmethod
    def _logged(job: Job, outcome: InboundOutcome) -> InboundOutcome:
        log_event(log, "inbound." + outcome.status, participant=job.key,
                  provider_id=job.inbound.provider_id, channel=job.channel,
                  keyword=outcome.keyword, count=len(outcome.outbox_ids), run_id=outcome.run_id)
        return outcome

    def close(self) -> None:
        """Stop the batch worker thread and return the kept connection (shutdown)."""
        self._commits.close()
        self._kept.close()

    # ---------------------------------------------------------------- other ways in --------
    def start_run(
        self,
        *,
        session: Session,
        participant: Participant,
        flow_id: str,
        kind: str,
        dedupe_key: str,
        now: datetime,
        context: dict[str, Any] | None = None,
        campaign_id: int | None = None,
        session_id: int | None = None,
        locked: bool = False,
    ) -> RunRow | None:
        """Start ``flow_id`` for ``participant`` in the caller's transaction (campaigns,
        invitations). Its messages go out with ``kind`` (quiet hours apply). None when the
        participant opted out or was erased, a dialogue message the resident did not ask for
        (``kind`` other than "reply") goes to someone who has not agreed to dialogue
        messages, or this campaign/session/dedupe key already
        started a run for them (so a resident who declined hears nothing more from it).
        ``locked``: the caller has locked the participant's row in this transaction and read
        it afresh since (a campaign batch locks all of its residents at once); otherwise that
        is done here."""
        return campaign_starts.start_run(
            self._services, session=session, participant=participant, flow_id=flow_id,
            kind=kind, dedupe_key=dedupe_key, now=now, context=context,
            campaign_id=campaign_id, session_id=session_id, locked=locked)

    def wake_due(self, *, now: datetime, limit: int = 500) -> int:
        """Call the engine's ``timeout`` for runs whose ``wake_at`` has passed (reminders,
        timeout paths, expiry). Returns how many runs were woken."""
        return wakeups.wake_due(self._services, now=now, limit=limit)

    def record_provider_opt_out(self, *, participant_id: int, source: str, now: datetime) -> bool:
        """The provider says the resident unsubscribed or blocked us (Twilio 21610, Telegram
        403): record the opt-out, end the run, cancel everything queued. No confirmation (it
        could not be delivered). Returns False when already opted out or unknown."""
        return opt_outs.record_provider_opt_out(self._services, participant_id=participant_id,
                                                source=source, now=now)

    def participant_for(self, session: Session, channel: str, address: str,
                        now: datetime) -> Participant:
        """Get or create the participant for a raw address (campaign audiences, the CLI)."""
        return campaign_starts.participant_for(self._services, session, channel, address, now)

    @property
    def batch_stats(self) -> dict[str, int]:
        """Inbound messages and the transactions they shared (the benchmark reports both)."""
        return {"jobs": self._commits.jobs, "batches": self._commits.batches}
