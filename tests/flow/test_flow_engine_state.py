"""The engine's state changes made outside a step (keywords, opt-out, supersession)."""

from __future__ import annotations

from flow_helpers import T0, shipped

from engage.flow import engine


def test_end_closes_the_run_and_keeps_the_rest_of_the_state() -> None:
    state = engine.start(shipped("satisfaction"), now=T0).state
    assert state["wake_at"] is not None
    ended = engine.end(state, "ended")
    assert ended["status"] == "expired" and ended["wake_at"] is None
    assert {k: v for k, v in ended.items() if k not in ("status", "wake_at")} == \
        {k: v for k, v in state.items() if k not in ("status", "wake_at")}
    assert engine.end(state, "declined")["status"] == "declined"
    assert list(ended) == list(state)  # same key order: the stored JSON does not reshuffle
    assert state["status"] == "waiting"  # the input is not changed


def test_hold_and_release_round_trip() -> None:
    state = engine.start(shipped("satisfaction"), now=T0).state
    assert not engine.is_held(state)
    held = engine.hold(state)
    assert engine.is_held(held) and held[engine.HOLD] is True
    released = engine.release(held)
    assert not engine.is_held(released) and engine.HOLD not in released
    assert released == state


def test_set_language_only_to_a_language_of_the_flow() -> None:
    flow = shipped("satisfaction")
    state = engine.start(flow, now=T0, language="en").state
    switched = engine.set_language(flow, state, "es")
    assert "es" in flow.languages and switched is not None and switched["language"] == "es"
    assert engine.set_language(flow, state, "xx") is None
    assert state["language"] == "en"


def test_with_context_adds_values_a_condition_can_read() -> None:
    state = engine.start(shipped("satisfaction"), now=T0, context={"area": "Hampden"}).state
    seated = engine.with_context(state, seat="waitlist")
    assert seated["context"] == {"area": "Hampden", "seat": "waitlist"}
    assert state["context"] == {"area": "Hampden"}  # the input is not changed
    assert engine.with_context({}, seat="seat")["context"] == {"seat": "seat"}


def test_with_results_replaces_only_recorded_results() -> None:
    state = {"status": "waiting", "results": {"comment": "call me on 410 555 0100", "age": "34"}}
    scrubbed = engine.with_results(state, {"comment": "call me on [phone]", "missing": "x"})
    assert scrubbed["results"] == {"comment": "call me on [phone]", "age": "34"}
    assert state["results"]["comment"] == "call me on 410 555 0100"
    assert engine.results(scrubbed) == scrubbed["results"]
    assert engine.results({}) == {} and engine.results({"results": "garbled"}) == {}
