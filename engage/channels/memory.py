"""In-memory collecting twin of a channel's ``Sender``, for tests and the simulator.

It keeps every ``Outbound`` it was given and answers with scripted ``SendResult`` values (or
success), so dispatcher behaviour can be exercised without any network at all.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from engage.channels.base import ChannelName, Outbound, SendResult
from engage.channels.segments import measure


@dataclass
class MemorySender:
    """Collects messages; ``script`` answers the next sends in order, then success."""

    channel: ChannelName = "sms"
    sent: list[Outbound] = field(default_factory=list)
    attempts: list[Outbound] = field(default_factory=list)
    script: deque[SendResult] = field(default_factory=deque)
    delay: float = 0.0

    async def send(self, message: Outbound) -> SendResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.attempts.append(message)
        if self.script:
            result = self.script.popleft()
            if result.ok:
                self.sent.append(message)
            return result
        self.sent.append(message)
        size = measure(message.text)
        return SendResult(
            ok=True,
            provider_id=f"MEM{len(self.attempts):08d}",
            status="sent",
            segments=size.segments,
            encoding=size.encoding,
        )

    def texts_to(self, address: str) -> list[str]:
        return [m.text for m in self.sent if m.address == address]
