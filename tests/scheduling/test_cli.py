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


def _dialogue_residents(db_engine: Any, settings: Settings, n: int) -> None:
    from sched_helpers import add_resident, number

    from engage.flows_catalog import FlowCatalog
    from engage.runtime import Runtime

    runtime = Runtime(engine=db_engine, settings=settings,
                      catalog=FlowCatalog(settings.flows_dir))
    for i in range(n):
        add_resident(db_engine, runtime, number(i), now=datetime.now(UTC), area="Hampden",
                     dialogue="granted")


def _session_soon(cli: Any, minutes: int) -> str:
    start = datetime.now(UTC) + timedelta(minutes=minutes)
    created = cli("dialogue", "create", "--title", "Walk and talk", "--area", "Hampden",
                  "--place", "Library", "--start", start.isoformat(),
                  "--end", (start + timedelta(hours=1)).isoformat(), "--capacity", "5",
                  "--mediator", "m.jones")
    assert created.exit_code == 0, created.output
    return str(created.stdout.strip())


def test_invite_warns_how_many_invitations_would_be_late(
        cli: Any, db_engine: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _dialogue_residents(db_engine, settings, 3)
    monkeypatch.setenv("ENGAGE_QUIET_HOURS", "00:00-00:01")  # whatever the hour of this run
    monkeypatch.setenv("ENGAGE_SMS_RATE", "0.001")  # one every 1000 s
    get_settings.cache_clear()
    sid = _session_soon(cli, 20)
    result = cli("dialogue", "invite", sid)
    assert result.exit_code == 0, result.output
    assert "2 invitations queued" in result.stdout
    assert "warning: 1 invitations would arrive after the session starts" in result.stderr
    assert "send rate" in result.stderr


def test_checkin_by_an_unknown_number_is_refused_and_creates_nobody(
        cli: Any, db_engine: Any, settings: Settings) -> None:
    from sqlmodel import func, select

    from engage.storage.db import session_scope
    from engage.storage.tables import Participant

    _dialogue_residents(db_engine, settings, 1)
    sid = _session_soon(cli, 30)
    refused = cli("dialogue", "checkin", sid, "--number", "+15559999999")
    assert refused.exit_code == 1
    assert "no resident with the number ending 9999 has texted engage" in refused.output
    with session_scope(db_engine) as session:
        assert session.execute(select(func.count()).select_from(Participant)).scalar_one() == 1
    known = cli("dialogue", "checkin", sid, "--number", "+14105550000")
    assert known.exit_code == 0 and "checked in" in known.stdout


def test_unknown_places_are_refused_with_the_known_ones(cli: Any) -> None:
    start = datetime.now(UTC) + timedelta(days=3)
    nowhere = cli("dialogue", "create", "--title", "T", "--area", "Nowhereville", "--place",
                  "Library", "--start", start.isoformat(),
                  "--end", (start + timedelta(hours=1)).isoformat(), "--capacity", "5",
                  "--mediator", "m")
    assert nowhere.exit_code == 1
    assert "unknown district or neighbourhood 'Nowhereville'" in nowhere.output
    assert "Known districts: Central, Eastern" in nowhere.output
    typo = cli("dialogue", "create", "--title", "T", "--area", "hamden", "--place", "L",
               "--start", start.isoformat(), "--end", (start + timedelta(hours=1)).isoformat(),
               "--capacity", "5", "--mediator", "m")
    assert typo.exit_code == 1 and "did you mean Hampden?" in typo.output
    ok = cli("dialogue", "create", "--title", "T", "--area", "hampden", "--place", "L",
             "--start", start.isoformat(), "--end", (start + timedelta(hours=1)).isoformat(),
             "--capacity", "5", "--mediator", "m")
    assert ok.exit_code == 0 and "no resident of Hampden has agreed" in ok.stderr
    campaign = cli("campaign", "create", "--flow", "satisfaction", "--audience",
                   "district:Nowhere")
    assert campaign.exit_code == 1 and "unknown district 'Nowhere'" in campaign.output
    empty = cli("campaign", "create", "--flow", "satisfaction", "--audience",
                "district:eastern", "--draft")
    assert empty.exit_code == 0 and "matches no resident" in empty.stderr
    shown = json.loads(cli("campaign", "list", "--json").stdout)
    assert shown[-1]["audience"] == "district:Eastern"  # the stored spelling


def test_dialogue_show_labels_counts_in_words(cli: Any) -> None:
    sid = _session_soon(cli, 60 * 24)
    shown = cli("dialogue", "show", sid).stdout
    assert "awaiting reply" in shown and "checked in" in shown
    assert "invited " not in shown


def test_help_is_reflowed_without_raw_backticks(cli: Any) -> None:
    shown = cli("dialogue", "show", "--help").output
    assert "``" not in shown
    listed = cli("dialogue", "--help").output
    assert "``" not in listed and "--contacts --as ME" in listed
