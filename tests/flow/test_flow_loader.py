"""The loader: precise problems for malformed flows, never a traceback; round trips."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from flow_helpers import FLOWS_DIR, SHIPPED, shipped

from engage.flow import FlowError, flow_from_dict, load_flow, load_flows, parse_flow
from engage.flow.loader import check_flow_text, parse_duration

AREAS = FLOWS_DIR / "areas"

GOOD = """\
id: tiny
version: 1
languages: [en, es]
nodes:
  - id: q
    ask:
      type: yes_no
      result: ok
      text: {en: "OK?", es: "¿Bien?"}
    next: done
  - id: done
    end: completed
"""


def problems(text: str) -> list[str]:
    _, found = check_flow_text(textwrap.dedent(text), "x.yaml", areas_dir=AREAS)
    return [str(p) for p in found if p.severity == "error"]


def test_good_flow_loads() -> None:
    flow = parse_flow(GOOD, "x.yaml")
    assert flow.id == "tiny"
    assert flow.version == "1"
    assert flow.languages == ("en", "es")
    assert flow.start == "q"
    assert len(flow.digest) == 64


@pytest.mark.parametrize("flow_id", SHIPPED)
def test_shipped_flows_round_trip(flow_id: str) -> None:
    flow = shipped(flow_id)
    data = json.loads(json.dumps(flow.to_dict()))
    again = flow_from_dict(data)
    assert again.digest == flow.digest
    assert again.to_dict() == flow.to_dict()
    assert set(again.nodes) == set(flow.nodes)


def test_load_flows_skips_areas_and_keys_by_id() -> None:
    flows = load_flows(FLOWS_DIR)
    assert set(flows) == set(SHIPPED)
    assert all(f.languages == ("en", "es") for f in flows.values())


def test_digest_changes_when_a_text_changes() -> None:
    other = parse_flow(GOOD.replace("OK?", "OK now?"), "x.yaml")
    assert other.digest != parse_flow(GOOD, "x.yaml").digest


def test_unknown_question_type_is_reported_with_location() -> None:
    found = problems(GOOD.replace("type: yes_no", "type: likret"))
    assert len(found) == 1
    assert found[0].startswith("x.yaml: nodes[0].ask.type: unknown type 'likret' (expected one of")
    assert "did you mean 'likert'" in found[0]


def test_bad_yaml_reports_line_and_column() -> None:
    found = problems("id: x\nnodes:\n  - id: a\n    say: {en: [unclosed\n")
    assert len(found) == 1
    assert found[0].startswith("x.yaml: line ")
    assert ", column " in found[0]
    assert "invalid YAML" in found[0]


def test_dangling_next() -> None:
    found = problems(GOOD.replace("next: done", "next: dnoe"))
    assert any("nodes[0].next: no node with id 'dnoe' (did you mean 'done'?)" in p for p in found)


def test_unreachable_node() -> None:
    text = GOOD + "  - id: orphan\n    end: declined\n"
    found = problems(text)
    assert found == ["x.yaml: nodes[2]: node 'orphan' is unreachable from start 'q'"]


def test_missing_translation() -> None:
    found = problems(GOOD.replace('text: {en: "OK?", es: "¿Bien?"}', 'text: {en: "OK?"}'))
    assert found == ["x.yaml: nodes[0].ask.text: missing translation for es"]


def test_duplicate_node_ids() -> None:
    text = GOOD.replace("  - id: done\n    end: completed\n",
                        "  - id: done\n    end: completed\n  - id: q\n    end: declined\n")
    found = problems(text)
    assert any("nodes[2].id: duplicate id 'q' (first: nodes[0])" in p for p in found)


def test_duplicate_yaml_keys() -> None:
    found = problems(GOOD.replace("version: 1\n", "version: 1\nversion: 2\n"))
    assert found == ["x.yaml: line 3, column 1: duplicate key 'version'"]


def test_unknown_field_suggests() -> None:
    found = problems(GOOD.replace("next: done", "nxt: done"))
    assert "x.yaml: nodes[0].nxt: unknown field (did you mean 'next'?)" in found


def test_bad_condition() -> None:
    text = GOOD.replace("    next: done\n", "    branches:\n      - when: 'answer <<= 2'\n"
                                            "        next: done\n    next: done\n")
    found = problems(text)
    assert len(found) == 1 and "cannot parse condition" in found[0]


def test_unknown_template_name() -> None:
    found = problems(GOOD.replace('"OK?"', '"OK {{ results.nothing }}?"'))
    assert found == [
        "x.yaml: nodes[0].ask.text.en: unknown result 'nothing' (no question stores it)"
    ]


def test_yes_and_no_stay_strings() -> None:
    text = GOOD.replace("    next: done\n", "    branches:\n      - value: no\n"
                                            "        next: done\n    next: done\n")
    flow = parse_flow(text, "x.yaml")
    assert flow.nodes["q"].branches[0].value == "no"


def test_many_problems_at_once_never_raise_anything_but_flow_error() -> None:
    with pytest.raises(FlowError) as info:
        parse_flow("id: 7\nlanguages: english\nnodes: {}\n", "x.yaml")
    lines = str(info.value).splitlines()
    assert any(line.startswith("x.yaml: id:") for line in lines)
    assert any(line.startswith("x.yaml: languages:") for line in lines)
    assert any(line.startswith("x.yaml: nodes:") for line in lines)


@pytest.mark.parametrize("text", ["", "[]", "just text", "id: x\nnodes: [1, 2]\n", "{{", "\t"])
def test_garbage_is_a_flow_error(text: str) -> None:
    with pytest.raises(FlowError):
        parse_flow(text, "x.yaml")


def test_segment_warning_for_long_spanish() -> None:
    long_es = "¿" + "á" * 80 + "?"
    _, found = check_flow_text(GOOD.replace('"¿Bien?"', f'"{long_es}"'), "x.yaml")
    warnings = [str(p) for p in found if p.severity == "warning"]
    assert warnings == [
        "x.yaml: expire_after: warning: not set: an unanswered run waits forever (add e.g. 7d)",
        "x.yaml: nodes[0].ask.text.es: warning: needs 2 SMS segments "
        "(82 characters, UCS-2 because of 'á', 70 per segment)",
    ]


def test_load_flow_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FlowError) as info:
        load_flow(tmp_path / "nope.yaml")
    assert "cannot read" in str(info.value)


def test_duplicate_flow_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(FlowError) as info:
        load_flows(tmp_path)
    assert "duplicate flow id 'tiny'" in str(info.value)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("1d12h", 129600),
     ("0s", None), ("soon", None), (True, None), (-5, None)],
)
def test_durations(value: object, seconds: int | None) -> None:
    assert parse_duration(value) == seconds


def test_the_documented_example_flow_is_valid() -> None:
    """docs/FLOWS.md must not teach a flow that the loader rejects."""
    import re

    doc = (FLOWS_DIR.parent / "docs" / "FLOWS.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "nodes:" in b]
    assert blocks
    for block in blocks:
        flow, found = check_flow_text(block, "FLOWS.md", areas_dir=AREAS)
        assert flow is not None, [str(p) for p in found]
