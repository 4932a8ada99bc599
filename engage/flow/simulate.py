"""Run a flow against scripted replies on a virtual clock: the core of
``engage flows simulate`` and of the golden conversation tests.

A reply of ``/wait`` jumps the clock to the state's ``wake_at`` and calls ``timeout`` (a
reminder, a timeout path, or expiry). Pure: the start time is passed in; each reply arrives
one minute after the previous step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engage.flow import engine
from engage.flow.events import Event, Say
from engage.flow.model import Flow
from engage.flow.templating import PLACEHOLDER

WAIT = "/wait"
REPLY_GAP = timedelta(minutes=1)


@dataclass
class Conversation:
    """A run in progress: transcript, events and the latest state."""

    flow: Flow
    now: datetime
    state: dict[str, Any] = field(default_factory=dict)
    transcript: list[dict[str, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.state.get("status", "waiting"))

    def _take(self, step: engine.Step) -> list[Event]:
        # the JSON round trip proves the state is storable, exactly as the runtime stores it
        self.state = json.loads(json.dumps(step.state))
        self.events.extend(step.events)
        for event in step.events:
            if isinstance(event, Say):
                self.transcript.append({"from": "bot", "text": event.text})
        return step.events

    def start(self, language: str | None, context: Mapping[str, Any] | None) -> list[Event]:
        return self._take(engine.start(self.flow, now=self.now, language=language,
                                       context=context))

    def reply(self, text: str) -> list[Event]:
        """A resident reply, or ``/wait`` to let time pass until the next wake-up."""
        if text.strip() == WAIT:
            wake = self.state.get("wake_at")
            if not wake:
                return []
            self.now = max(self.now, datetime.fromisoformat(wake))
            return self._take(engine.timeout(self.flow, self.state, now=self.now))
        self.now += REPLY_GAP
        self.transcript.append({"from": "resident", "text": text})
        return self._take(engine.resume(self.flow, self.state, text, now=self.now))

    def summary(self) -> dict[str, Any]:
        """The ``--json`` shape: status, transcript, results."""
        return {
            "status": self.status,
            "transcript": list(self.transcript),
            "results": dict(self.state.get("results") or {}),
        }


def context_names(flow: Flow) -> list[str]:
    """Context fields the flow's texts use (``{{ context.NAME }}``), in first-use order."""
    names: list[str] = []
    for match in PLACEHOLDER.finditer(json.dumps(flow.to_dict(), ensure_ascii=False)):
        root, _, name = match.group(1).partition(".")
        if root == "context" and name not in names:
            names.append(name)
    return names


def run_script(
    flow: Flow,
    replies: Iterable[str],
    *,
    now: datetime,
    language: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> Conversation:
    """Start ``flow`` and feed ``replies`` in order (stopping early if the run ends)."""
    conversation = Conversation(flow, now)
    conversation.start(language, context)
    for text in replies:
        if conversation.status != "waiting":
            break
        conversation.reply(text)
    return conversation
