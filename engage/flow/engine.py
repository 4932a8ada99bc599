"""The pure flow engine: ``start`` / ``resume`` / ``timeout`` -> Step(new state, events).

No I/O, no clock, no randomness: the caller passes ``now`` and stores the state. The state is
a small JSON-safe dict (schema version ``"v"``) so it can live in a database column, and it
records the flow digest so a run always finishes on the version it started on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from engage.flow import answers
from engage.flow.conditions import Value, evaluate
from engage.flow.events import (
    MULTI_DONE,
    MULTI_PREFIX,
    ConsentChanged,
    Event,
    LanguageChanged,
    Option,
    Outcome,
    ResultRecorded,
    RunEnded,
    Say,
    SayKind,
    toggle_value,
)
from engage.flow.model import LANGUAGE_NAMES, Flow, Node, Question, Text
from engage.flow.templating import lookup_in, render

STATE_VERSION = 1
STATUSES = ("waiting", "completed", "declined", "expired")


class EngineError(ValueError):
    """The caller passed something the engine cannot work with (naive ``now``, foreign state)."""


@dataclass(frozen=True)
class Step:
    """What one engine call produced: the new state (store it) and events (act on them)."""

    state: dict[str, Any]
    events: list[Event] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.state["status"])

    @property
    def wake_at(self) -> datetime | None:
        value = self.state.get("wake_at")
        return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class _Answer:
    value: str | None
    number: float | None = None
    category: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    confirm: bool = False  # a close spelling: ask "did you mean ...?" before recording it


_SKIPPED = _Answer(None, None, "skipped")

_LANGUAGE_KEYWORDS: dict[str, str] = {
    answers.fold(word): code
    for code, (_, words) in LANGUAGE_NAMES.items()
    for word in words
    if len(word) > 3
}

# -- built-in localized texts ---------------------------------------------------------------

_YES_NO_LABELS = {"en": ("Yes", "No"), "es": ("Sí", "No")}
_SKIP_LABEL = {"en": "Prefer not to say", "es": "Prefiero no decir"}
_DONE_LABEL = {"en": "Done", "es": "Listo"}
_SWITCH = {"en": ("English", "ENGLISH"), "es": ("Español", "ESPAÑOL")}
_TRIMMED = {
    "en": "(Your answer was long, so we kept its first {hi} characters.)",
    "es": "(Su respuesta era larga; guardamos sus primeros {hi} caracteres.)",
}
_REPROMPTS: dict[str, dict[str, str]] = {
    "en": {
        "yes_no": "Sorry, I didn't get that. Please reply YES or NO.",
        "scale": "Sorry, please reply with a number from {lo} to {hi}.",
        "multi": "Sorry, please reply with one or more numbers from 1 to {hi}, like 1 3.",
        "number": "Sorry, please reply with a number from {lo} to {hi}.",
        "any_number": "Sorry, please reply with a number.",
        "text": "Please type your answer (up to {hi} characters).",
        "area": "Sorry, I don't know that place. Please reply with your neighborhood or ZIP code.",
        "skip": " Or reply SKIP.",
        "skipped": "No problem, let's skip that question.",
        "did_you_mean": "Did you mean {name}? Reply YES or NO.",
    },
    "es": {
        "yes_no": "Perdón, no entendí. Responda SÍ o NO.",
        "scale": "Perdón, responda con un número del {lo} al {hi}.",
        "multi": "Perdón, responda uno o más números del 1 al {hi}, como 1 3.",
        "number": "Perdón, responda con un número del {lo} al {hi}.",
        "any_number": "Perdón, responda con un número.",
        "text": "Escriba su respuesta (hasta {hi} caracteres).",
        "area": "No conozco ese lugar. Responda su barrio o código postal.",
        "skip": " O SALTAR.",
        "skipped": "No se preocupe, pasemos a la siguiente pregunta.",
        "did_you_mean": "¿Quiso decir {name}? Responda SÍ o NO.",
    },
}


# -- helpers --------------------------------------------------------------------------------


def _check_now(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise EngineError("now must be an aware datetime (UTC)")
    return now.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _localized(flow: Flow, text: Text | None, lang: str) -> str:
    if not text:
        return ""
    return text.get(lang) or text.get(flow.default_language) or next(iter(text.values()), "")


def _render(flow: Flow, st: dict[str, Any], text: Text | None) -> str:
    raw = _localized(flow, text, st["language"])
    if "{{" not in raw:
        return raw
    return render(raw, lookup_in(st["results"], st.get("context") or {}, st["language"]))


def _fmt(number: float | None) -> str:
    if number is None:
        return ""
    return str(int(number)) if float(number).is_integer() else str(number)


@lru_cache(maxsize=1024)
def _options(flow: Flow, q: Question, lang: str) -> tuple[Option, ...]:
    """Buttons for Telegram; every value is a reply the parser accepts (cached: a flow and
    its questions are immutable and hash by identity)."""
    out: list[Option]
    if q.type in ("yes_no", "consent"):
        yes, no = _YES_NO_LABELS.get(lang, _YES_NO_LABELS["en"])
        out = [Option(yes, "yes"), Option(no, "no")]
        opening = flow.nodes.get(flow.start)
        if q.type == "consent" and opening is not None and opening.question is q:
            # the first question offers the other language (the LANGUAGE keyword re-asks it)
            out += [Option(label, keyword) for code, (label, keyword) in _SWITCH.items()
                    if code != lang and code in flow.languages]
    elif q.type == "likert":
        lo, hi = int(q.min or 1), int(q.max or 5)
        out = []
        for point in range(lo, hi + 1):
            label = q.labels.get(point)
            text = f"{point} - {_localized(flow, label, lang)}" if label else str(point)
            out.append(Option(text, str(point)))
    elif q.type in ("choice", "language"):
        out = [Option(_localized(flow, o.label, lang), str(i + 1)) for i, o in enumerate(q.options)]
    elif q.type == "multi_choice":  # buttons toggle; Done sends the ticked ones (Telegram)
        out = [Option(_localized(flow, o.label, lang), toggle_value(i + 1, o.exclusive))
               for i, o in enumerate(q.options)]
        out.append(Option(_DONE_LABEL.get(lang, _DONE_LABEL["en"]), MULTI_DONE))
    else:
        out = []
    if q.optional:
        out.append(Option(_SKIP_LABEL.get(lang, _SKIP_LABEL["en"]), "skip"))
    return tuple(out)


def _reprompt_text(flow: Flow, st: dict[str, Any], q: Question) -> str:
    if q.reprompt:
        return _render(flow, st, q.reprompt)
    texts = _REPROMPTS.get(st["language"], _REPROMPTS["en"])
    if q.type in ("yes_no", "consent"):
        text = texts["yes_no"]
    elif q.type == "likert":
        text = texts["scale"].format(lo=_fmt(q.min), hi=_fmt(q.max))
    elif q.type in ("choice", "language"):
        text = texts["scale"].format(lo=1, hi=len(q.options))
    elif q.type == "multi_choice":
        text = texts["multi"].format(hi=len(q.options))
    elif q.type == "number":
        if q.min is not None and q.max is not None:
            text = texts["number"].format(lo=_fmt(q.min), hi=_fmt(q.max))
        else:
            text = texts["any_number"]
    elif q.type == "text":
        text = texts["text"].format(hi=q.max_length)
    else:
        text = texts["area"]
    return text + texts["skip"] if q.optional else text


def _set_wake(st: dict[str, Any]) -> None:
    if st["status"] != "waiting":
        st["wake_at"] = None
        return
    times = [t for t in (st.get("question_due"), st.get("expires_at")) if t]
    st["wake_at"] = min(times, key=datetime.fromisoformat) if times else None


def _end(st: dict[str, Any], outcome: Outcome, node_id: str | None, events: list[Event]) -> None:
    st["status"] = outcome
    st["node"] = None
    st["question_due"] = None
    st["ended_at_node"] = node_id
    events.append(RunEnded(outcome, node_id))


def _ask(flow: Flow, st: dict[str, Any], node: Node, events: list[Event], now: datetime,
         kind: SayKind = "question") -> None:
    q = node.question
    assert q is not None
    st["node"] = node.id
    st["asked_at"] = _iso(now)  # a keyboard sent before this belongs to an earlier question
    st["tries"] = 0
    st["reminded"] = False
    st["question_due"] = _iso(now + timedelta(seconds=q.timeout.after)) if q.timeout else None
    events.append(Say(_render(flow, st, q.text), node.id, kind, _options(flow, q, st["language"])))


def _enter(flow: Flow, st: dict[str, Any], node_id: str | None, events: list[Event],
           now: datetime) -> None:
    """Walk from ``node_id`` through messages until a question (wait) or an end."""
    hops = 0
    while True:
        hops += 1
        node = flow.nodes.get(node_id) if node_id is not None else None
        if node is None or hops > len(flow.nodes) + 1:
            _end(st, "completed", node_id, events)  # a validated flow never gets here
            return
        if node.kind == "ask":
            _ask(flow, st, node, events, now)
            return
        if node.text:
            events.append(Say(_render(flow, st, node.text), node.id, "message"))
        if node.kind == "end":
            outcome: Outcome = "declined" if node.outcome == "declined" else "completed"
            _end(st, outcome, node.id, events)
            return
        node_id = _route(flow, st, node, None)


def _env(flow: Flow, st: dict[str, Any], node: Node, answer: _Answer | None) -> dict[str, Value]:
    env: dict[str, Value] = {"language": st["language"]}
    for name, value in st["results"].items():
        env[name] = value
        env[f"results.{name}"] = value
    for name, value in (st.get("context") or {}).items():
        env[f"context.{name}"] = value if isinstance(value, str | float) else str(value)
    if answer is not None:
        env["answer"] = env["value"] = answer.value
        env["number"] = answer.number
        env["category"] = answer.category
        if node.question is not None:
            env[node.question.type] = answer.number if answer.number is not None else answer.value
    return env


def _route(flow: Flow, st: dict[str, Any], node: Node, answer: _Answer | None) -> str | None:
    for branch in node.branches:
        if branch.value is not None:
            if answer is None or answer.value is None:
                continue
            wanted = branch.value.casefold()
            given = answer.value.casefold()
            if given == wanted or (node.question is not None
                                   and node.question.type == "multi_choice"
                                   and wanted in given.split(",")):
                return branch.next
        elif branch.category is not None:
            if answer is not None and answer.category == branch.category:
                return branch.next
        elif branch.condition is not None and evaluate(branch.condition,
                                                       _env(flow, st, node, answer)):
            return branch.next
    return node.next


# -- parsing one reply against one question -------------------------------------------------


def _parse(flow: Flow, q: Question, reply: str) -> _Answer | None:
    t = q.type
    if t in ("yes_no", "consent"):
        yes = answers.parse_yes_no(reply)
        if yes is None:
            return None
        word = "yes" if yes else "no"
        return _Answer(word, 1.0 if yes else 0.0, word)
    if t == "likert":
        lo, hi = int(q.min or 1), int(q.max or 5)
        point = answers.parse_int_in(reply, lo, hi)
        if point is None:
            f = answers.fold(reply)
            point = q.keys.get(f) if f else None
            if point is None and f and answers.parse_number(reply) is None:
                point = answers.match_key(f, q.keys, cutoff=0.85)
        if point is None:
            return None
        return _Answer(str(point), float(point))
    if t in ("choice", "language"):
        index = answers.parse_choice(reply, q.keys, len(q.options))
        if index is None:
            index = _in_range_option(q, reply)
        if index is None:
            return None
        option = q.options[index]
        return _Answer(option.value, None, option.category or option.value)
    if t == "multi_choice":
        if reply.startswith(MULTI_PREFIX):  # a toggle button's value sent as it is
            reply = reply.removeprefix(MULTI_PREFIX).rstrip("!")
        indexes = answers.parse_multi(reply, q.keys, len(q.options))
        if not indexes:
            return None
        chosen = [q.options[i] for i in indexes]
        if len(chosen) > 1 and any(o.exclusive for o in chosen):
            return None
        category = (chosen[0].category or chosen[0].value) if len(chosen) == 1 else None
        return _Answer(",".join(o.value for o in chosen), None, category)
    if t == "number":
        number = answers.parse_number(reply)
        if number is None or number != number or number in (float("inf"), float("-inf")):
            return None
        if q.integer and not number.is_integer():
            return None
        if (q.min is not None and number < q.min) or (q.max is not None and number > q.max):
            return None
        return _Answer(_fmt(number), number)
    if t == "text":
        text = answers.parse_text(reply, q.max_length) or answers.trim_text(reply, q.max_length)
        return _Answer(text) if text is not None else None
    if t == "area":
        gazetteer = flow.gazetteers.get(q.gazetteer or "")
        match = gazetteer.match(reply) if gazetteer is not None else None
        if match is None:
            return None
        extra = {"district": match.district}
        if match.zip:
            extra["zip"] = match.zip
        return _Answer(match.neighbourhood, None, match.district, extra, confirm=match.typo)
    return None


_RANGE = re.compile(r"^(\d+)\s*(?:-\s*(\d+)|\+)$")


def _in_range_option(q: Question, reply: str) -> int | None:
    """A number that is no option's position but falls in an option shaped as a range
    ("25" for "25-34", "70" for "65+"): a real age where an age band is asked."""
    number = answers.parse_number(reply)
    if number is None or not number.is_integer():
        return None
    for index, option in enumerate(q.options):
        found = _RANGE.match(option.value.strip())
        if found is None:
            continue
        low = int(found.group(1))
        high = int(found.group(2)) if found.group(2) else None
        if low <= number and (high is None or number <= high):
            return index
    return None


def _record(st: dict[str, Any], node: Node, q: Question, answer: _Answer, raw: str | None,
            events: list[Event]) -> None:
    if q.result is None:
        return
    st["results"][q.result] = answer.value
    events.append(ResultRecorded(
        name=q.result,
        node_id=node.id,
        question_type=q.type,
        value=answer.value,
        category=answer.category,
        number=answer.number,
        raw=raw,
        extra=dict(answer.extra),
        scope=q.scope,
    ))


def _advance(flow: Flow, st: dict[str, Any], node: Node, answer: _Answer, events: list[Event],
             now: datetime) -> None:
    _enter(flow, st, _route(flow, st, node, answer), events, now)


def _give_up(flow: Flow, st: dict[str, Any], node: Node, q: Question, events: list[Event],
             now: datetime) -> None:
    """Too many replies we could not understand: skip, end, or go where the flow says."""
    if q.on_fail == "end" and q.type == "consent" and q.on_decline:
        _enter(flow, st, q.on_decline, events, now)  # the flow's goodbye, but no consent event
        if st["status"] != "declined" and events and isinstance(events[-1], RunEnded):
            st["status"] = "declined"
            events[-1] = RunEnded("declined", q.on_decline)
    elif q.on_fail == "end":
        _end(st, "declined", node.id, events)
    elif q.on_fail == "skip":
        _record(st, node, q, _SKIPPED, None, events)
        texts = _REPROMPTS.get(st["language"], _REPROMPTS["en"])
        events.append(Say(texts["skipped"], node.id, "reprompt"))  # never skip in silence
        _advance(flow, st, node, _SKIPPED, events, now)
    else:
        _enter(flow, st, q.on_fail, events, now)


def _copy_state(state: Mapping[str, Any]) -> dict[str, Any]:
    st = dict(state)
    st["results"] = dict(state.get("results") or {})
    st["consents"] = dict(state.get("consents") or {})
    return st


def _prepare(flow: Flow, state: Mapping[str, Any]) -> dict[str, Any]:
    if state.get("v") != STATE_VERSION:
        raise EngineError(f"unsupported state version {state.get('v')!r}")
    if state.get("digest") != flow.digest:
        raise EngineError(
            f"state belongs to flow {state.get('flow')!r} digest {str(state.get('digest'))[:12]}, "
            f"not {flow.id!r} {flow.digest[:12]}: load the flow version the run started on"
        )
    return _copy_state(state)


def _expire_if_due(st: dict[str, Any], now: datetime, events: list[Event]) -> bool:
    expires = _parse_time(st.get("expires_at"))
    if expires is not None and now >= expires:
        _end(st, "expired", st.get("node"), events)
        return True
    return False


# -- public API -----------------------------------------------------------------------------


def start(flow: Flow, *, now: datetime, language: str | None = None,
          context: Mapping[str, Any] | None = None) -> Step:
    """Begin a run: messages up to the first question, and the state to store."""
    now = _check_now(now)
    lang = language if language in flow.languages else flow.default_language
    st: dict[str, Any] = {
        "v": STATE_VERSION,
        "flow": flow.id,
        "flow_version": flow.version,
        "digest": flow.digest,
        "status": "waiting",
        "language": lang,
        "node": None,
        "tries": 0,
        "reminded": False,
        "results": {},
        "consents": {},
        "context": {str(k): v if isinstance(v, str | int | float) else str(v)
                    for k, v in (context or {}).items()},
        "started_at": _iso(now),
        "expires_at": _iso(now + timedelta(seconds=flow.expire_after))
        if flow.expire_after else None,
        "question_due": None,
        "wake_at": None,
    }
    events: list[Event] = []
    _enter(flow, st, flow.start, events, now)
    _set_wake(st)
    return Step(st, events)


def _begin(
    flow: Flow, state: Mapping[str, Any], now: datetime
) -> tuple[dict[str, Any], list[Event], Step | None]:
    """What every step on a running state does first: copy the state, and stop at once (with
    the Step to return) when the run has already ended or has just expired."""
    st = _prepare(flow, state)
    events: list[Event] = []
    if st["status"] != "waiting":
        return st, events, Step(st, events)
    if _expire_if_due(st, now, events):
        _set_wake(st)
        return st, events, Step(st, events)
    return st, events, None


def pending_question(flow: Flow, state: Mapping[str, Any]) -> Say | None:
    """The question the run is waiting on, as it was asked (in the run's language), for
    saying it again after HELP or "who is this?"; None when the run waits on nothing."""
    if state.get("status", "waiting") != "waiting":
        return None
    node = flow.nodes.get(state.get("node") or "")
    if node is None or node.question is None:
        return None
    st = _copy_state(state)
    st.setdefault("language", flow.default_language)
    st.setdefault("results", {})
    return Say(_render(flow, st, node.question.text), node.id, "question",
               _options(flow, node.question, st["language"]))


def resume(flow: Flow, state: Mapping[str, Any], reply: str, *, now: datetime) -> Step:
    """Handle one resident reply. Any text is safe: the worst case is a re-prompt."""
    now = _check_now(now)
    st, events, finished = _begin(flow, state, now)
    if finished is not None:
        return finished
    node = flow.nodes.get(st.get("node") or "")
    if node is None or node.question is None:
        _end(st, "completed", st.get("node"), events)  # a foreign state; never strand it
        _set_wake(st)
        return Step(st, events)
    q = node.question
    reply = reply if isinstance(reply, str) else ""
    if q.type not in ("text", "language"):
        lang = _LANGUAGE_KEYWORDS.get(answers.fold(reply))
        if lang is not None and lang in flow.languages and lang != st["language"]:
            st["language"] = lang
            events.append(LanguageChanged(lang))
            events.append(Say(_render(flow, st, q.text), node.id, "question",
                              _options(flow, q, lang)))
            _set_wake(st)
            return Step(st, events)
    confirming = st.pop("confirm", None)
    if isinstance(confirming, dict) and q.type == "area":
        yes = answers.parse_yes_no(reply)
        if yes is not None:
            if yes:
                confirmed = _Answer(confirming.get("value"), None, confirming.get("category"),
                                    dict(confirming.get("extra") or {}))
                _record(st, node, q, confirmed, confirming.get("raw"), events)
                _advance(flow, st, node, confirmed, events, now)
            else:
                events.append(Say(_render(flow, st, q.text), node.id, "question",
                                  _options(flow, q, st["language"])))
            _set_wake(st)
            return Step(st, events)
        # anything else is a fresh answer to the question (the name spelled again)
    if q.optional and answers.is_skip(reply):
        _record(st, node, q, _SKIPPED, reply, events)
        _advance(flow, st, node, _SKIPPED, events, now)
        _set_wake(st)
        return Step(st, events)
    answer = _parse(flow, q, reply)
    if answer is not None and answer.confirm:
        st["confirm"] = {"value": answer.value, "category": answer.category,
                         "extra": dict(answer.extra), "raw": reply[:200]}
        texts = _REPROMPTS.get(st["language"], _REPROMPTS["en"])
        events.append(Say(texts["did_you_mean"].format(name=answer.value), node.id,
                          "reprompt"))
        _set_wake(st)
        return Step(st, events)
    if answer is None:
        st["tries"] = int(st.get("tries") or 0) + 1
        if st["tries"] >= q.max_tries:
            _give_up(flow, st, node, q, events, now)
        else:
            events.append(Say(_reprompt_text(flow, st, q), node.id, "reprompt",
                              _options(flow, q, st["language"])))
        _set_wake(st)
        return Step(st, events)
    if q.type == "consent":
        granted = answer.value == "yes"
        scope = q.consent_scope or "surveys"
        st["consents"][scope] = "granted" if granted else "declined"
        events.append(ConsentChanged(scope, "granted" if granted else "declined",
                                     q.text_version or "", node.id))
        if not granted and q.required:
            if q.on_decline:
                _enter(flow, st, q.on_decline, events, now)
                if st["status"] != "waiting":
                    st["status"] = "declined"
                    events[-1] = RunEnded("declined", q.on_decline)
            else:
                _end(st, "declined", node.id, events)
            _set_wake(st)
            return Step(st, events)
    elif q.type == "language" and answer.value is not None:
        if answer.value != st["language"]:
            events.append(LanguageChanged(answer.value))
        st["language"] = answer.value
        _record(st, node, q, answer, reply, events)
    elif q.type == "text" and answer.value is not None and answer.value != answers.clean(reply):
        _record(st, node, q, answer, answer.value, events)  # kept trimmed, and told so
        note = _TRIMMED.get(st["language"], _TRIMMED["en"]).format(hi=q.max_length)
        events.append(Say(note, node.id, "message"))
    else:
        _record(st, node, q, answer, reply, events)
    _advance(flow, st, node, answer, events, now)
    _set_wake(st)
    return Step(st, events)


def question_again(flow: Flow, state: Mapping[str, Any]) -> Say | None:
    """The open question, asked again as it was (with its buttons), for a resident who asks
    where they were (/start mid-survey); None when the run waits on no question."""
    if state.get("status") != "waiting":
        return None
    node = flow.nodes.get(state.get("node") or "")
    if node is None or node.question is None:
        return None
    lang = state.get("language") or flow.default_language
    st = dict(state, language=lang)
    return Say(_render(flow, st, node.question.text), node.id, "question",
               _options(flow, node.question, lang))


def timeout(flow: Flow, state: Mapping[str, Any], *, now: datetime) -> Step:
    """The wake-up the state asked for (``wake_at``): expiry, a reminder, or the timeout path.
    Calling it early or on a finished run changes nothing."""
    now = _check_now(now)
    st, events, finished = _begin(flow, state, now)
    if finished is not None:
        return finished
    due = _parse_time(st.get("question_due"))
    node = flow.nodes.get(st.get("node") or "")
    if due is None or now < due or node is None or node.question is None:
        _set_wake(st)
        return Step(st, events)
    q = node.question
    t = q.timeout
    if t is None:
        st["question_due"] = None
    elif t.reminder and not st.get("reminded"):
        st["reminded"] = True
        st["question_due"] = _iso(now + timedelta(seconds=t.after)) if t.next else None
        events.append(Say(_render(flow, st, t.reminder), node.id, "reminder",
                          _options(flow, q, st["language"])))
    elif t.next:
        _enter(flow, st, t.next, events, now)
    else:
        st["question_due"] = None
    _set_wake(st)
    return Step(st, events)


# --- state changes made outside a step (keywords, opt-out, supersession) -----------------

HOLD = "opt_out_asked"  # asked "Reply STOP to stop all messages", no answer yet


def set_language(flow: Flow, state: Mapping[str, Any], language: str) -> dict[str, Any] | None:
    """The state speaking ``language`` from now on; None when the flow lacks that language."""
    if language not in flow.languages:
        return None
    return {**state, "language": language}


def end(state: Mapping[str, Any], status: str) -> dict[str, Any]:
    """The state of a run closed without a step (opt-out, superseded, unreachable): nothing
    more is due. A run status the engine does not know ("ended") is stored as expired."""
    return {**state, "status": status if status in STATUSES[1:] else "expired", "wake_at": None}


def hold(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state held while the resident is asked whether they want to stop."""
    return {**state, HOLD: True}


def release(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state no longer held (the resident answered with something else)."""
    return {name: value for name, value in state.items() if name != HOLD}


def is_held(state: Mapping[str, Any]) -> bool:
    return bool(state.get(HOLD))


def with_context(state: Mapping[str, Any], **values: Value) -> dict[str, Any]:
    """The state with ``values`` added to the run's context, where conditions read them
    (``context.seat`` for a dialogue RSVP: what a "yes" gets right now)."""
    return {**state, "context": {**(state.get("context") or {}), **values}}


def with_results(state: Mapping[str, Any], replaced: Mapping[str, str]) -> dict[str, Any]:
    """The state with some recorded results replaced (free text kept only scrubbed)."""
    results = dict(state.get("results") or {})
    results.update({name: value for name, value in replaced.items() if name in results})
    return {**state, "results": results}


def results(state: Mapping[str, Any]) -> dict[str, Any]:
    """The run's recorded results by question name (empty for a state without any)."""
    found = state.get("results")
    return dict(found) if isinstance(found, dict) else {}
