"""`engage flows validate` and `engage flows simulate` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flow_helpers import FLOWS_DIR, SHIPPED
from typer.testing import CliRunner

from engage.cli import app

runner = CliRunner()
SESSION = ["--context", "session_title=Town hall", "--context", "session_when=Mon 6pm",
           "--context", "session_place=Library"]
SCRIPTS = {
    ("satisfaction", "en"): ["yes", "1", "Canton", "4", "3", "4", "4", "5", "skip", "no", "skip",
                             "skip", "no"],
    ("satisfaction", "es"): ["sí", "2", "21230", "4", "3", "4", "4", "1", "4", "Más luz", "sí",
                             "3", "2", "sí"],
    ("dialogue_rsvp", "en"): ["yes", "1 3"],
    ("dialogue_rsvp", "es"): ["sí", "nada"],
    ("session_feedback", "en"): ["5", "yes", "more youth programs"],
    ("session_feedback", "es"): ["4", "no", "saltar"],
}


def test_validate_shipped_flows_exits_zero() -> None:
    result = runner.invoke(app, ["flows", "validate", str(FLOWS_DIR)])
    assert result.exit_code == 0, result.output
    assert "error" not in result.stdout.replace("warning", "")


def test_validate_reports_problems_and_exits_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nversion: 1\nlanguages: [en]\nnodes:\n  - id: a\n"
                   "    ask: {type: likret, result: x, text: {en: Hi}}\n    next: nowhere\n")
    result = runner.invoke(app, ["flows", "validate", str(bad)])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert f"{bad}: nodes[0].ask.type: unknown type 'likret'" in lines[0]
    assert any(line.startswith(f"{bad}: nodes[0].next: no node with id 'nowhere'")
               for line in lines)
    assert "Traceback" not in result.output


def test_validate_bad_yaml_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("id: x\nnodes: [\n")
    result = runner.invoke(app, ["flows", "validate", str(bad)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{bad}: line 3, column 1: invalid YAML")


def test_validate_missing_file_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["flows", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "cannot read" in result.stdout and "Traceback" not in result.output


@pytest.mark.parametrize(("flow_id", "lang"), sorted(SCRIPTS))
def test_simulate_completes_every_flow_in_both_languages(flow_id: str, lang: str) -> None:
    args = ["flows", "simulate", flow_id, "--lang", lang, "--json", *SESSION]
    for reply in SCRIPTS[(flow_id, lang)]:
        args += ["--reply", reply]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "completed"
    assert set(data) == {"status", "transcript", "results"}
    assert data["transcript"][0]["from"] == "bot"
    assert {line["from"] for line in data["transcript"]} == {"bot", "resident"}


def test_simulate_by_path_and_waiting_status() -> None:
    result = runner.invoke(app, ["flows", "simulate", str(FLOWS_DIR / "satisfaction.yaml"),
                                 "--reply", "yes", "--json"])
    data = json.loads(result.stdout)
    assert data["status"] == "waiting"
    assert data["results"] == {}
    assert [t["from"] for t in data["transcript"]] == ["bot", "resident", "bot"]


def test_simulate_declined_and_expired() -> None:
    declined = runner.invoke(app, ["flows", "simulate", "satisfaction", "--reply", "no", "--json"])
    assert json.loads(declined.stdout)["status"] == "declined"
    expired = runner.invoke(app, ["flows", "simulate", "satisfaction", "--reply", "/wait",
                                  "--reply", "/wait", "--json"])
    assert json.loads(expired.stdout)["status"] == "expired"


def test_simulate_unknown_flow_and_language_fail_cleanly() -> None:
    result = runner.invoke(app, ["flows", "simulate", "nope"])
    assert result.exit_code == 1 and "unknown flow 'nope'" in result.output
    result = runner.invoke(app, ["flows", "simulate", "satisfaction", "--lang", "fr"])
    assert result.exit_code == 1 and "no language 'fr'" in result.output


def test_simulate_interactive_reads_stdin() -> None:
    result = runner.invoke(app, ["flows", "simulate", "session_feedback", *SESSION],
                           input="4\nyes\nskip\n")
    assert result.exit_code == 0, result.output
    assert "status: completed" in result.stdout
    assert "[yes] Yes" in result.stdout  # buttons shown literally, not eaten as markup


def test_simulate_interactive_shows_missing_context_and_stops_at_eof() -> None:
    result = runner.invoke(app, ["flows", "simulate", "session_feedback"], input="4\n")
    assert result.exit_code == 0, result.output
    assert "Thank you for joining [session_title]." in result.stdout
    assert "status: waiting" in result.stdout


def test_every_shipped_flow_is_scripted() -> None:
    assert {flow for flow, _ in SCRIPTS} == set(SHIPPED)


def test_validate_checks_gazetteers_too(tmp_path: Path) -> None:
    areas = tmp_path / "areas"
    areas.mkdir()
    (areas / "town.yaml").write_text("districts: [North]\nneighbourhoods:\n"
                                     "  - {name: A, district: South}\n")
    result = runner.invoke(app, ["flows", "validate", str(areas / "town.yaml")])
    assert result.exit_code == 1
    assert f"{areas / 'town.yaml'}: neighbourhoods[0].district: unknown district 'South'" in (
        result.stdout)
