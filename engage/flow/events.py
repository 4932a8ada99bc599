"""The engine's only output: a list of events per step.

The runtime turns events into storage writes and outbound messages; the engine never does I/O.
Every event is a frozen dataclass with a ``to_dict`` for golden files and logs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SayKind = Literal["message", "question", "reprompt", "reminder"]
ConsentStatus = Literal["granted", "declined", "withdrawn"]
Outcome = Literal["completed", "declined", "expired"]


@dataclass(frozen=True)
class Option:
    """One answer a channel may offer as a button: label shown, value sent back as the reply."""

    label: str
    value: str


# A multi_choice question's buttons: each toggles an option (value "multi:<n>", "multi:<n>!"
# for an exclusive one such as "None") and MULTI_DONE sends the ticked ones as "<n> <m>".
# These values are for button-drawing channels only: typed replies never use them.
MULTI_PREFIX = "multi:"
MULTI_DONE = "multi:done"


def toggle_value(number: int, exclusive: bool = False) -> str:
    """The button value of a multi_choice option (1-based ``number``)."""
    return f"{MULTI_PREFIX}{number}{'!' if exclusive else ''}"


@dataclass(frozen=True)
class Say:
    """Send ``text`` to the resident. ``options`` let Telegram draw buttons; SMS ignores them."""

    text: str
    node_id: str
    kind: SayKind = "message"
    options: tuple[Option, ...] = ()
    type: Literal["say"] = "say"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ResultRecorded:
    """A question was answered (or skipped: ``value`` is None and ``category`` is 'skipped').

    ``value`` is the normalized answer (str); ``number`` is set for numeric types (likert,
    number, yes_no as 1/0); ``category`` is the matched option/branch category; ``raw`` is the
    resident's reply (the runtime scrubs it before storing); ``scope`` is the consent scope the
    answer needs before it may be stored.
    """

    name: str
    node_id: str
    question_type: str
    value: str | None
    category: str | None = None
    number: float | None = None
    raw: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    scope: str = "surveys"
    type: Literal["result"] = "result"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConsentChanged:
    """The resident answered a consent question for ``scope`` (surveys, dialogue, quotes)."""

    scope: str
    status: ConsentStatus
    text_version: str
    node_id: str
    type: Literal["consent"] = "consent"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LanguageChanged:
    """The resident picked a language inside the flow."""

    language: str
    type: Literal["language"] = "language"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunEnded:
    """The run reached an end: completed, declined (end node or consent refused) or expired."""

    outcome: Outcome
    node_id: str | None
    type: Literal["ended"] = "ended"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Event = Say | ResultRecorded | ConsentChanged | LanguageChanged | RunEnded
