"""``engage deliberation``: the Polis round trip (import -> analyze --json -> export) on the
hand-made folder in tests/deliberation/data, staff commands, and clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from engage.cli import app as cli_app
from engage.config import Settings, get_settings

DATA = Path(__file__).resolve().parents[1] / "deliberation" / "data"


@pytest.fixture
def cli(db_engine: Engine, db_url: str, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    return CliRunner()


def run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(cli_app, ["deliberation", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("folder", ["two-camps", "two-camps-table"])
def test_import_analyze_export_round_trip(cli: CliRunner, folder: str, tmp_path: Path) -> None:
    conv = run(cli, "import-polis", str(DATA / folder)).strip().splitlines()[-1]
    assert conv.isdigit()
    data = json.loads(run(cli, "analyze", conv, "--json"))
    assert sorted(g["size"] for g in data["groups"]) == [15, 15]
    truth = {r["participant"]: r["group-id"] for r in
             _rows(DATA / folder / "participants-votes.csv")}
    ours = data["participants"]
    assert set(ours) == set(truth)
    assert ours["30"] is None and ours["31"] is None, "3 votes are too few to be grouped"
    for camp in ("0", "1"):
        assert len({ours[p] for p, g in truth.items() if g == camp}) == 1
    assert ours["0"] != ours["1"]
    agreed = {c["statement"] for c in data["consensus"]}
    assert agreed and agreed <= {"0", "2", "6"}
    shown = {r["statement"] for g in data["groups"] for r in g["representative"]}
    assert "7" not in shown, "a moderated-out statement represents no group"

    out = tmp_path / "export"
    run(cli, "export-polis", conv, str(out))
    source = {r["comment-id"]: r for r in _rows(DATA / folder / "comments.csv")}
    written = {r["comment-id"]: r for r in _rows(out / "comments.csv")}
    assert {k: (v["comment-body"], v["moderated"]) for k, v in written.items()} == \
        {k: (v["comment-body"], v["moderated"]) for k, v in source.items()}
    table = {r["participant"]: r for r in _rows(out / "participants-votes.csv")}
    original = {r["participant"]: r for r in _rows(DATA / folder / "participants-votes.csv")}
    for person, row in original.items():  # every latest vote survives the trip
        assert [table[person][c] for c in source] == [row[c] for c in source]
    assert {p: (r["group-id"] or None) for p, r in table.items()} == \
        {p: (None if g is None else str(g)) for p, g in ours.items()}
    # and the exported folder imports again to the same groups
    again = run(cli, "import-polis", str(out)).strip().splitlines()[-1]
    assert json.loads(run(cli, "analyze", again, "--json"))["participants"] == ours


def test_staff_commands(cli: CliRunner, tmp_path: Path) -> None:
    conv = run(cli, "create", "--topic", "Safety on our streets", "--languages", "en,es").strip()
    sid = run(cli, "add", conv, "More lights on the bus routes.", "--translation",
              "Más luces en las rutas de autobús.").strip()
    shown = json.loads(run(cli, "show", conv, "--json"))
    [row] = shown["statements"]
    assert row["id"] == int(sid) and row["status"] == "approved"
    assert row["translation"] == "Más luces en las rutas de autobús."
    assert "statement 1 rejected" in run(cli, "moderate", sid, "--reject", "--by", "m1",
                                         "--reason", "duplicate")
    assert json.loads(run(cli, "show", conv, "--json"))["statements"][0]["reason"] == "duplicate"
    assert run(cli, "invite", conv).strip() == "0"
    svg = tmp_path / "map.svg"
    run(cli, "map", conv, "--out", str(svg))
    assert "Not enough voters" in svg.read_text(encoding="utf-8")


@pytest.mark.parametrize(("args", "message"), [
    (["moderate", "1", "--reject", "--by", "m1"], "no statement with id 1"),
    (["analyze", "99", "--json"], "no deliberation conversation with id 99"),
    (["create", "--topic", "x", "--languages", "fr"], "languages must be en, es"),
    (["import-polis", "/nonexistent/folder"], "/nonexistent/folder: not a folder"),
    (["create", "--topic", "x", "--opens", "2026-01-02T00:00", "--closes", "2026-01-01T00:00"],
     "closes must be after opens"),
])
def test_clear_errors(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(cli_app, ["deliberation", *args])
    assert result.exit_code == 1
    assert message in result.output


def test_a_closed_conversation_invites_nobody(cli: CliRunner) -> None:
    conv = run(cli, "create", "--topic", "Over", "--opens", "2020-01-01T00:00",
               "--closes", "2020-02-01T00:00").strip()
    result = cli.invoke(cli_app, ["deliberation", "invite", conv])
    assert result.exit_code == 1
    assert "closed on 2020-02-01" in result.output


def test_a_bad_vote_names_file_and_line(cli: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "comments.csv").write_text(
        "comment-id,author-id,moderated,comment-body\n0,1,1,Hello\n", encoding="utf-8")
    (folder / "votes.csv").write_text(
        "timestamp,comment-id,voter-id,vote\n1,0,5,1\n2,0,6,7\n", encoding="utf-8")
    result = cli.invoke(cli_app, ["deliberation", "import-polis", str(folder)])
    assert result.exit_code == 1
    assert f"{folder / 'votes.csv'}:3: vote must be 1, -1 or 0, got 7" in result.output
