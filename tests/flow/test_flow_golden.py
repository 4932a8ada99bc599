"""Golden conversations: each scripted case must reproduce its stored transcript, results and
events exactly. Regenerate on purpose with ENGAGE_REGEN_GOLDEN=1 (then review the diff)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from flow_golden_cases import CASES
from flow_helpers import GOLDEN_DIR, SHIPPED, T0, shipped

from engage.flow.simulate import run_script

REGEN = os.environ.get("ENGAGE_REGEN_GOLDEN") == "1"


def render_case(name: str) -> dict[str, Any]:
    case = CASES[name]
    flow = shipped(case["flow"])
    conversation = run_script(flow, case["replies"], now=T0, language=case.get("language"),
                              context=case.get("context"))
    return json.loads(json.dumps({
        "case": name,
        "flow": flow.id,
        "flow_version": flow.version,
        "language": case.get("language"),
        "context": case.get("context", {}),
        "replies": case["replies"],
        **conversation.summary(),
        "events": [event.to_dict() for event in conversation.events],
    }))


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_conversation(name: str) -> None:
    path = GOLDEN_DIR / f"{name}.json"
    actual = render_case(name)
    if REGEN:
        path.write_text(json.dumps(actual, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path} is missing: run ENGAGE_REGEN_GOLDEN=1 pytest {__file__}")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual == expected


def test_no_stale_golden_files() -> None:
    stored = {p.stem for p in GOLDEN_DIR.glob("*.json")}
    assert stored <= set(CASES), f"golden files without a case: {sorted(stored - set(CASES))}"


@pytest.mark.parametrize("flow_id", SHIPPED)
def test_every_shipped_flow_completes_in_both_languages(flow_id: str) -> None:
    outcomes = {
        (CASES[n].get("language") or "en", render_case(n)["status"])
        for n in CASES if CASES[n]["flow"] == flow_id
    }
    assert ("en", "completed") in outcomes
    assert ("es", "completed") in outcomes
