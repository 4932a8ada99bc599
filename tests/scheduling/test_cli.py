"""``engage campaign ...``, ``engage dialogue ...``: ids alone on stdout, one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from engage.cli import app
from engage.config import Settings, get_settings


@pytest.fixture
def cli(db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args))

    return invoke


def test_campaign_commands(cli: Any, tmp_path: Any) -> None:
    created = cli("campaign", "create", "--flow", "satisfaction", "--audience", "area:Hampden",
                  "--throttle", "30", "--reminders", "1", "--reminder-after", "24",
                  "--cutoff", "2099-01-01T00:00:00+00:00", "--draft")
    assert created.exit_code == 0, created.output
    cid = created.stdout.strip()
    assert cid.isdigit()
    listed = json.loads(cli("campaign", "list", "--json").stdout)
    assert [(c["id"], c["status"], c["audience"]) for c in listed] == [
        (int(cid), "draft", "area:Hampden")]
    assert "campaign" in cli("campaign", "start", cid).stdout
    shown = json.loads(cli("campaign", "show", cid, "--json").stdout)
    assert shown["status"] == "scheduled" and shown["progress"]["total"] == 0
    assert "pending" in cli("campaign", "show", cid).stdout
    assert cli("campaign", "pause", cid).stdout.strip().endswith("paused")
    assert cli("campaign", "cancel", cid).stdout.strip().endswith("cancelled")


@pytest.mark.parametrize(("args", "message"), [
    (("campaign", "create", "--flow", "nope"), "unknown flow"),
    (("campaign", "create", "--flow", "satisfaction", "--audience", "zip:1"), "audience"),
    (("campaign", "create", "--flow", "satisfaction", "--start", "tomorrow"), "not a time"),
    (("campaign", "create", "--flow", "satisfaction", "--audience", "csv:/no/such.csv"),
     "no such file"),
    (("campaign", "show", "999"), "no campaign with id 999"),
    (("dialogue", "show", "999"), "no dialogue session with id 999"),
])
def test_errors_are_one_line(cli: Any, args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_dialogue_commands(cli: Any) -> None:
    start = datetime.now(UTC) + timedelta(days=3)
    created = cli("dialogue", "create", "--title", "GVRS feedback", "--area", "Hampden",
                  "--place", "Library", "--start", start.isoformat(),
                  "--end", (start + timedelta(hours=2)).isoformat(), "--capacity", "20",
                  "--mediator", "m.jones")
    assert created.exit_code == 0, created.output
    sid = created.stdout.strip()
    assert sid.isdigit()
    assert "0 invitations" in cli("dialogue", "invite", sid).stdout
    listed = json.loads(cli("dialogue", "list", "--json").stdout)
    assert listed[0]["title"] == "GVRS feedback" and listed[0]["status"] == "scheduled"
    code = listed[0]["checkin_code"]
    assert code in cli("dialogue", "checkin", sid).stdout
    shown = json.loads(cli("dialogue", "show", sid, "--json", "--contacts", "--as",
                           "m.jones").stdout)
    assert shown["contacts"] == [] and shown["counts"]["attended"] == 0
    refused = cli("dialogue", "show", sid, "--contacts", "--as", "other")
    assert refused.exit_code == 1 and "mediator" in refused.output
    assert cli("dialogue", "close", sid).stdout.strip().endswith("closed")
