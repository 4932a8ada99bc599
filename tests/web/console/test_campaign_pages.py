"""Campaigns from the browser's side: reach before starting, create, start, pause, progress."""

from __future__ import annotations

from datetime import UTC, datetime

from engage.scheduling.campaigns import create_campaign
from engage.storage.db import session_scope
from tests.web.console.conftest import Console, csrf_of


def make_campaign(console: Console) -> int:
    with session_scope(console.engine) as db:
        campaign = create_campaign(session=db, settings=console.settings, flow_id="satisfaction",
                                   now=datetime.now(UTC), draft=True, name="Seed")
        return int(campaign.id or 0)


def test_create_start_and_pause_a_campaign(console: Console) -> None:
    client = console.client("staff")
    form = client.get("/console/campaigns/new")
    assert "reaches <b>0</b> residents" in form.text
    response = client.post("/console/campaigns/new", data={
        "csrf_token": csrf_of(form.text), "name": "Summer check-in", "flow": "satisfaction",
        "audience": "district:Eastern", "reminders": "1", "reminder_after": "24",
        "draft": "on"}, follow_redirects=False)
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert "Summer check-in" in page.text and "draft" in page.text
    path = response.headers["location"]
    client.post(path + "/start", data={"csrf_token": csrf_of(page.text)})
    assert "Status: <b class=\"status\">scheduled" in client.get(path + "/progress").text
    client.post(path + "/pause", data={"csrf_token": csrf_of(page.text)})
    assert "paused" in client.get(path + "/progress").text


def test_bad_campaign_input_gets_a_clear_error(console: Console) -> None:
    client = console.client("staff")
    token = csrf_of(client.get("/console/campaigns/new").text)
    response = client.post("/console/campaigns/new", data={
        "csrf_token": token, "flow": "satisfaction", "audience": "all", "throttle": "lots"})
    assert response.status_code == 400
    assert "Throttle: &#39;lots&#39; is not a number" in response.text


def test_reach_counts_the_audience_live(console: Console) -> None:
    response = console.client("staff").get("/console/campaigns/reach",
                                            params={"audience": "nonsense"})
    assert "expected all, area:NAME" in response.text
