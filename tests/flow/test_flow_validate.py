"""``engage.flow.validate.validate``: the one-call form of what the loader reports."""

from __future__ import annotations

import textwrap
from typing import Any

import yaml
from flow_helpers import FLOWS_DIR

from engage.flow.loader import check_flow_text
from engage.flow.validate import validate
from engage.flow.yamlread import Problem

BROKEN = textwrap.dedent("""\
    id: Broken
    version: 1
    languages: [en, es]
    nodes:
      - id: ask_day
        ask: {type: likert, text: {en: "How safe? {{results.nope}}"}, result: day, scale: 7}
        next: missing
      - id: done
        end: finished
""")


def test_validate_reports_what_the_loader_reports_in_the_same_order() -> None:
    canonical, problems = validate(yaml.safe_load(BROKEN), "broken.yaml",
                                   areas_dir=FLOWS_DIR / "areas")
    flow, loader_problems = check_flow_text(BROKEN, "broken.yaml", areas_dir=FLOWS_DIR / "areas")
    assert flow is None
    assert canonical is not None  # built, but with errors: no Flow is made from it
    assert [str(p) for p in problems] == [str(p) for p in loader_problems]
    assert [p.location for p in problems] == [
        "id", "expire_after", "nodes[0].ask.text", "nodes[0].ask.scale", "nodes[0].next",
        "nodes[1].end", "nodes[1]", "nodes[0].ask.text.en"]


def test_earlier_problems_come_first_and_a_crash_becomes_a_problem() -> None:
    earlier = Problem("x.yaml", "(file)", "read earlier")

    class Exploding(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("boom")

    canonical, problems = validate(Exploding(), "x.yaml", problems=[earlier])
    assert canonical is None
    assert problems[0] == earlier
    assert problems[1].location == "(root)"
    assert "RuntimeError: boom" in problems[1].message
