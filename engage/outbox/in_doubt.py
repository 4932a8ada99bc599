"""Rows that may have been sent: looked up at the provider before any resend.

A row is stamped ``attempted_at`` just before its request goes out. When its claim ends
without a recorded outcome (its worker died, or a stop cut the request off) the outcome is
unknown: before sending it again, the provider's own list (Twilio's Message list) is searched
for it and, when found under a provider id not recorded for another row, it is recorded as
sent. A sender with no lookup (Telegram) sends again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime

from sqlalchemy.engine import Engine

from engage.channels.base import Outbound, Sender, SendResult
from engage.outbox import queue
from engage.storage.sql import transaction

log = logging.getLogger("engage.dispatcher")


class InDoubtLookup:
    """What the provider already holds for an in-doubt row."""

    def __init__(self, *, engine: Engine, stats: Counter[str]) -> None:
        self.engine = engine
        self.stats = stats

    async def find(self, sender: Sender, message: Outbound,
                   since: datetime | None) -> SendResult | None:
        """The provider's record of ``message`` since ``since``, or None (send it).
        Raises ``LookupUnavailable`` when the provider cannot tell now."""
        lookup = getattr(sender, "lookup", None)
        if lookup is None or since is None:
            self.stats["resent_in_doubt"] += 1
            log.info("outbox=%s in doubt, %s has no lookup: sending again", message.outbox_id,
                     message.channel)
            return None
        self.stats["looked_up"] += 1
        candidates: list[SendResult] = await lookup(message, since)
        ids = [c.provider_id for c in candidates if c.provider_id]
        known = await asyncio.to_thread(self._known_ids, message.channel, ids)
        for candidate in candidates:
            if candidate.provider_id and candidate.provider_id not in known:
                self.stats["found_in_doubt"] += 1
                log.info("outbox=%s in doubt: found at the provider, not resent",
                         message.outbox_id)
                return candidate
        log.info("outbox=%s in doubt: not at the provider, sending", message.outbox_id)
        return None

    def _known_ids(self, channel: str, provider_ids: list[str]) -> set[str]:
        with transaction(self.engine) as tx:
            return queue.known_provider_ids(tx=tx, channel=channel, provider_ids=provider_ids)
