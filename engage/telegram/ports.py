"""What the Telegram service needs from the runtime, as a typed Protocol.

The service is bound to one runtime (the webhook's, the poller's, a test's); naming the few
methods it calls keeps that seam typed without importing the runtime package here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from engage.channels.base import Inbound
from engage.config import Settings
from engage.storage.records import RunRow
from engage.storage.tables import Participant


class TelegramRuntime(Protocol):
    """The runtime methods the Telegram service calls (``engage.runtime.Runtime``)."""

    engine: Engine
    settings: Settings
    clock: Callable[[], datetime]

    def handle_inbound(self, inbound: Inbound) -> object: ...

    async def handle_inbound_async(self, inbound: Inbound) -> object: ...

    def record_provider_opt_out(
        self, *, participant_id: int, source: str, now: datetime
    ) -> bool: ...

    def participant_for(
        self, session: Session, channel: str, address: str, now: datetime
    ) -> Participant: ...

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
    ) -> RunRow | None: ...
