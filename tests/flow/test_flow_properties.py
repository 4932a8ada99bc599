"""Property tests: no sequence of replies or wake-ups crashes the engine or strands a run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from flow_helpers import FLOWS_DIR, SHIPPED, T0, shipped
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engage.flow import answers, resume, start, timeout
from engage.flow.areas import load_gazetteer
from engage.flow.engine import STATUSES, Step
from engage.flow.events import RunEnded, Say
from engage.flow.model import LANGUAGE_NAMES
from engage.flow.templating import lookup_in, render

USEFUL = ["yes", "no", "y", "sí", "1", "2", "3", "4", "5", "6", "7", "10", "skip", "saltar",
          "prefer not to say", "Canton", "21224", "fed hill", "none", "maybe", "1 3", "1, 4",
          "agree", "childcare and ride", "👍", "👎", "español", "english", "/wait", "", " "]
REPLIES = st.one_of(
    st.sampled_from(USEFUL),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.integers(-5, 2000).map(str),
    st.just("x" * 2000),
)
LANGUAGE_WORDS = {answers.fold(w) for _, words in LANGUAGE_NAMES.values() for w in words}


def check_invariants(flow_id: str, step: Step) -> dict[str, object]:
    flow = shipped(flow_id)
    state = json.loads(json.dumps(step.state))  # always JSON-safe
    assert state == step.state
    assert state["v"] == 1
    assert state["status"] in STATUSES
    if state["status"] == "waiting":
        node = flow.nodes[state["node"]]
        assert node.kind == "ask"  # waiting always means waiting for an answer
        assert state["wake_at"] is not None  # every shipped flow expires: never stranded
    else:
        assert state["wake_at"] is None
    ended = [e for e in step.events if isinstance(e, RunEnded)]
    assert len(ended) <= 1
    if ended:
        assert step.events[-1] is ended[0] and ended[0].outcome == state["status"]
    for event in step.events:
        if isinstance(event, Say):
            assert event.text.strip()
    return state


def drive(flow_id: str, language: str | None, replies: list[str]) -> tuple[dict[str, object],
                                                                              datetime]:
    flow = shipped(flow_id)
    now = T0
    step = start(flow, now=now, language=language, context={"session_title": "S"})
    state = check_invariants(flow_id, step)
    for reply in replies:
        if reply == "/wait" and state["wake_at"]:
            now = max(now, datetime.fromisoformat(str(state["wake_at"])))
            step = timeout(flow, state, now=now)
        else:
            now += timedelta(minutes=3)
            step = resume(flow, state, reply, now=now)
        state = check_invariants(flow_id, step)
    return state, now


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flow_id=st.sampled_from(SHIPPED),
    language=st.sampled_from([None, "en", "es", "fr"]),
    replies=st.lists(REPLIES, max_size=40),
)
def test_no_reply_sequence_crashes_or_strands(flow_id: str, language: str | None,
                                              replies: list[str]) -> None:
    state, now = drive(flow_id, language, replies)
    if state["status"] == "waiting":
        # whatever happened, time alone always finishes the run
        flow = shipped(flow_id)
        for _ in range(2 * len(flow.nodes) + 2):
            if state["status"] != "waiting":
                break
            now = max(now, datetime.fromisoformat(str(state["wake_at"])))
            state = check_invariants(flow_id, timeout(flow, state, now=now))
        assert state["status"] != "waiting"


@settings(max_examples=100, deadline=None)
@given(flow_id=st.sampled_from(SHIPPED), replies=st.lists(REPLIES, min_size=60, max_size=60))
def test_replies_alone_always_reach_an_end(flow_id: str, replies: list[str]) -> None:
    """Each question takes at most max_tries replies, so a run cannot loop forever (switching
    language re-asks without using a try, so those words are left out here)."""
    flow = shipped(flow_id)
    budget = sum(n.question.max_tries for n in flow.questions() if n.question)
    usable = [r for r in replies if r != "/wait" and answers.fold(r) not in LANGUAGE_WORDS]
    usable = (usable + ["zzz"] * budget)[:budget]
    state, _ = drive(flow_id, None, usable)
    assert state["status"] in ("completed", "declined")


KEYS = {"childcare": 0, "interpretation": 1, "ride": 2, "none": 3}
GAZETTEER = load_gazetteer(FLOWS_DIR / "areas" / "baltimore.yaml")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_parsers_never_raise(text: str) -> None:
    assert answers.parse_yes_no(text) in (True, False, None)
    number = answers.parse_number(text)
    assert number is None or isinstance(number, float)
    assert answers.parse_choice(text, KEYS, 4) in (None, 0, 1, 2, 3)
    chosen = answers.parse_multi(text, KEYS, 4)
    assert chosen is None or set(chosen) <= {0, 1, 2, 3}
    cleaned = answers.parse_text(text, 100)
    assert cleaned is None or (0 < len(cleaned) <= 100)
    assert isinstance(answers.is_skip(text), bool)
    GAZETTEER.match(text)
    render(text, lookup_in({"a": text}, {"b": text}, "en"))
