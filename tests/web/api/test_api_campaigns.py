"""Campaigns through the API: the CLI's functions, the caller as audit actor, clear errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from engage.storage.tables import AuditEntry
from tests.web.api.conftest import Account


def test_lifecycle_create_start_pause_resume_cancel(
        client: TestClient, accounts: dict[str, Account], db_engine: Engine) -> None:
    staff = accounts["staff"]
    created = client.post("/api/v1/campaigns", headers=staff.headers, json={
        "flow": "satisfaction", "audience": "district:Northern", "draft": True,
        "throttle_per_minute": 30, "reminders": 1, "name": "Northern Q3",
        "cutoff": "2026-09-30T17:00:00"})
    assert created.status_code == 201, created.text
    campaign = created.json()
    cid = campaign["id"]
    assert (campaign["status"], campaign["audience"]) == ("draft", "district:Northern")
    assert campaign["cutoff_at"] == "2026-09-30T21:00:00+00:00"  # ENGAGE_TIMEZONE, EDT
    steps = [("start", "scheduled"), ("pause", "paused"), ("resume", "scheduled"),
             ("cancel", "cancelled")]
    for action, status in steps:
        response = client.post(f"/api/v1/campaigns/{cid}/{action}", headers=staff.headers)
        assert (response.status_code, response.json()["status"]) == (200, status), action
    shown = client.get(f"/api/v1/campaigns/{cid}", headers=staff.headers).json()
    assert shown["status"] == "cancelled" and shown["progress"]["total"] == 0
    listed = client.get("/api/v1/campaigns?limit=1", headers=staff.headers).json()
    assert (listed["total"], [c["id"] for c in listed["items"]]) == (1, [cid])
    with Session(db_engine) as s:
        entries = s.exec(select(AuditEntry).where(
            AuditEntry.action.startswith("campaign."))).all()  # type: ignore[attr-defined]
    assert [e.action for e in entries] == ["campaign.created", "campaign.started",
                                           "campaign.paused", "campaign.started",
                                           "campaign.cancelled"]
    assert {e.actor for e in entries} == {f"user:{staff.user_id}"}


def test_state_conflicts_are_409(client: TestClient, accounts: dict[str, Account]) -> None:
    headers = accounts["admin"].headers
    cid = client.post("/api/v1/campaigns", headers=headers,
                      json={"flow": "satisfaction", "draft": True}).json()["id"]
    resume = client.post(f"/api/v1/campaigns/{cid}/resume", headers=headers)
    assert resume.status_code == 409 and "not paused" in resume.json()["detail"]
    client.post(f"/api/v1/campaigns/{cid}/cancel", headers=headers)
    start = client.post(f"/api/v1/campaigns/{cid}/start", headers=headers)
    assert start.status_code == 409 and "cancelled and cannot be started" in start.json()[
        "detail"]
    missing = client.post("/api/v1/campaigns/4242/pause", headers=headers)
    assert missing.status_code == 404 and missing.json()["detail"] == "no campaign with id 4242"


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"flow": "nope"}, None, "unknown flow 'nope'"),
    ({"flow": "satisfaction", "audience": "csv:/etc/passwd"}, "body.audience", "CSV"),
    ({"flow": "satisfaction", "audience": "zip:21211"}, "body.audience", "expected all"),
    ({"flow": "satisfaction", "throttle_per_minute": 0}, "body.throttle_per_minute", ""),
    ({"flow": "satisfaction", "reminders": 9}, "body.reminders", ""),
    ({"flow": "satisfaction", "start": "3026-01-01T00:00:00Z"}, "body.start", "2100"),
    ({"flow": "satisfaction", "cutoff": "2026-01-01T00:00:00Z"}, None, "cutoff must be after"),
    ({"flow": "sat\u0000isfaction"}, "body.flow", ""),
    ({}, "body.flow", "Field required"),
])
def test_bad_campaigns_are_422_with_the_reason(client: TestClient, accounts: dict[str, Account],
                                               body: dict[str, Any], field: str | None,
                                               message: str) -> None:
    response = client.post("/api/v1/campaigns", headers=accounts["staff"].headers, json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert message in problem["detail"]
    if field:
        assert field in [e["field"] for e in problem["errors"]]


def test_audit_details_of_a_created_campaign_carry_no_email(
        client: TestClient, accounts: dict[str, Account], db_engine: Engine) -> None:
    client.post("/api/v1/campaigns", headers=accounts["staff"].headers,
                json={"flow": "satisfaction", "draft": True})
    with Session(db_engine) as s:
        text = json.dumps([e.model_dump(mode="json") for e in s.exec(select(AuditEntry))])
    assert "@city.example" not in text and accounts["staff"].token not in text
