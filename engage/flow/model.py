"""The flow model: a validated, immutable Flow built from its canonical dict.

The loader turns YAML into a *canonical dict* (defaults filled in, durations in seconds,
gazetteers embedded). ``build_flow`` turns that dict into the objects the engine walks, and
``Flow.to_dict`` gives the same dict back, so a flow stored with a run is exactly the flow the
run started on (``Flow.digest`` = sha256 of its canonical JSON).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engage.flow.answers import fold
from engage.flow.areas import Gazetteer, gazetteer_from_dict
from engage.flow.conditions import Node as ConditionNode
from engage.flow.conditions import parse_condition

Text = Mapping[str, str]
"""A localized text: language code -> text."""

QUESTION_TYPES = (
    "yes_no",
    "likert",
    "choice",
    "multi_choice",
    "number",
    "text",
    "area",
    "consent",
    "language",
)
NODE_KINDS = ("say", "ask", "end")
OUTCOMES = ("completed", "declined")

LANGUAGE_NAMES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "en": ("English", ("english", "ingles", "inglés", "eng", "en")),
    "es": ("Español", ("espanol", "español", "spanish", "castellano", "esp", "es")),
}


@dataclass(frozen=True)
class Choice:
    """One option of a choice/multi_choice/language question."""

    value: str
    label: Text
    synonyms: tuple[str, ...] = ()
    category: str | None = None
    exclusive: bool = False


@dataclass(frozen=True)
class Timeout:
    """Wait ``after`` seconds for a reply; then send ``reminder`` (once) and wait again; then
    go to ``next`` (or keep waiting for the run to expire when ``next`` is None)."""

    after: int
    reminder: Text | None = None
    next: str | None = None


@dataclass(frozen=True, eq=False)
class Question:
    type: str
    text: Text
    result: str | None
    optional: bool = False
    scope: str = "surveys"
    options: tuple[Choice, ...] = ()
    min: float | None = None
    max: float | None = None
    integer: bool = False
    labels: Mapping[int, Text] = field(default_factory=dict)
    max_length: int = 500
    gazetteer: str | None = None
    consent_scope: str | None = None
    text_version: str | None = None
    required: bool = False
    on_decline: str | None = None
    reprompt: Text | None = None
    max_tries: int = 3
    on_fail: str = "skip"
    timeout: Timeout | None = None
    keys: Mapping[str, int] = field(default_factory=dict)
    """Folded label/synonym/value -> option index (choices) or scale point (likert)."""


@dataclass(frozen=True)
class Branch:
    """Go to ``next`` when the answer's value/category equals, or ``when`` holds."""

    next: str
    value: str | None = None
    category: str | None = None
    when: str | None = None
    condition: ConditionNode | None = None


@dataclass(frozen=True, eq=False)
class Node:
    id: str
    kind: str  # say | ask | end
    text: Text | None = None
    question: Question | None = None
    next: str | None = None
    branches: tuple[Branch, ...] = ()
    outcome: str | None = None


@dataclass(frozen=True, eq=False)
class Flow:
    """A validated flow. Build with ``build_flow``/``flow_from_dict``; never mutate."""

    id: str
    version: str
    languages: tuple[str, ...]
    default_language: str
    expire_after: int | None
    start: str
    nodes: Mapping[str, Node]
    gazetteers: Mapping[str, Gazetteer]
    title: str
    data: Mapping[str, Any] = field(repr=False)
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", hashlib.sha256(canonical_json(self.data)).hexdigest())

    def to_dict(self) -> dict[str, Any]:
        """The canonical, JSON-safe form (round trips through ``flow_from_dict``)."""
        result: dict[str, Any] = json.loads(canonical_json(self.data))
        return result

    def questions(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "ask"]


def canonical_json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _text(value: Any) -> Text | None:
    return dict(value) if isinstance(value, Mapping) else None


def _keys_for_choices(options: tuple[Choice, ...]) -> dict[str, int]:
    keys: dict[str, int] = {}
    for index, option in enumerate(options):
        for key in (option.value, *option.label.values(), *option.synonyms):
            folded = fold(key)
            if folded:
                keys.setdefault(folded, index)
        folded_value = fold(option.value.replace("_", " "))
        if folded_value:
            keys.setdefault(folded_value, index)
    return keys


def _build_question(d: Mapping[str, Any]) -> Question:
    qtype = str(d["type"])
    options = tuple(
        Choice(
            value=str(o["value"]),
            label=dict(o["label"]),
            synonyms=tuple(str(s) for s in o.get("synonyms", ())),
            category=o.get("category"),
            exclusive=bool(o.get("exclusive", False)),
        )
        for o in d.get("options", ())
    )
    labels = {int(k): dict(v) for k, v in (d.get("labels") or {}).items()}
    keys: dict[str, int]
    if qtype == "likert":
        keys = {}
        for point, label in labels.items():
            for text in label.values():
                if fold(text):
                    keys.setdefault(fold(text), point)
    else:
        keys = _keys_for_choices(options)
    t = d.get("timeout")
    timeout = (
        Timeout(int(t["after"]), _text(t.get("reminder")), t.get("next"))
        if isinstance(t, Mapping)
        else None
    )
    return Question(
        type=qtype,
        text=dict(d["text"]),
        result=d.get("result"),
        optional=bool(d.get("optional", False)),
        scope=str(d.get("scope", "surveys")),
        options=options,
        min=d.get("min"),
        max=d.get("max"),
        integer=bool(d.get("integer", False)),
        labels=labels,
        max_length=int(d.get("max_length", 500)),
        gazetteer=d.get("gazetteer"),
        consent_scope=d.get("consent_scope"),
        text_version=d.get("text_version"),
        required=bool(d.get("required", False)),
        on_decline=d.get("on_decline"),
        reprompt=_text(d.get("reprompt")),
        max_tries=int(d.get("max_tries", 3)),
        on_fail=str(d.get("on_fail", "skip")),
        timeout=timeout,
        keys=keys,
    )


def _build_node(d: Mapping[str, Any]) -> Node:
    branches = tuple(
        Branch(
            next=str(b["next"]),
            value=None if b.get("value") is None else str(b["value"]),
            category=b.get("category"),
            when=b.get("when"),
            condition=parse_condition(b["when"]) if b.get("when") else None,
        )
        for b in d.get("branches", ())
    )
    if d.get("ask") is not None:
        return Node(
            id=d["id"],
            kind="ask",
            question=_build_question(d["ask"]),
            next=d.get("next"),
            branches=branches,
        )
    if d.get("end") is not None:
        return Node(id=d["id"], kind="end", text=_text(d.get("say")), outcome=str(d["end"]))
    return Node(id=d["id"], kind="say", text=_text(d.get("say")), next=d.get("next"),
                branches=branches)


def build_flow(data: Mapping[str, Any]) -> Flow:
    """Build a Flow from its canonical dict (trusted: produced by the loader or to_dict)."""
    nodes = {str(n["id"]): _build_node(n) for n in data["nodes"]}
    gazetteers = {
        str(name): gazetteer_from_dict(g, str(name))
        for name, g in (data.get("gazetteers") or {}).items()
    }
    return Flow(
        id=str(data["id"]),
        version=str(data["version"]),
        languages=tuple(data["languages"]),
        default_language=str(data["default_language"]),
        expire_after=data.get("expire_after"),
        start=str(data["start"]),
        nodes=nodes,
        gazetteers=gazetteers,
        title=str(data.get("title") or data["id"]),
        data=json.loads(canonical_json(data)),
    )
