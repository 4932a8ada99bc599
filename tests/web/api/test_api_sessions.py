"""Dialogue sessions through the API: a mediator's own sessions only (404 for others'),
areas enforced, invitations, RSVP counts, check-in by hand, close and the briefing."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from engage.storage.db import session_scope
from engage.storage.tables import AuditEntry, Outbox, Participant
from tests.web.api.conftest import Account

SESSION = {"title": "Northern district listening session", "area": "hampden",
           "place": "Hampden library", "starts_at": "2026-07-10T18:00:00",
           "ends_at": "2026-07-10T20:00:00", "capacity": 30}
NUMBERS = ("+14105550101", "+14105550102", "+14105550103")


def _residents(app: Any, db_engine: Engine, clock: Any) -> None:
    """Three Hampden residents who agreed to hear about dialogue sessions."""
    runtime = app.state.runtime
    with session_scope(db_engine) as s:
        for number in NUMBERS:
            p = runtime.participant_for(s, "sms", number, clock())
            p.area, p.district, p.consent_dialogue = "Hampden", "Northern", "granted"
            s.add(p)


def test_a_mediator_runs_a_session(client: TestClient, app: Any, accounts: dict[str, Account],
                                   db_engine: Engine, clock: Any) -> None:
    _residents(app, db_engine, clock)
    ana = accounts["mediator"]
    created = client.post("/api/v1/sessions", headers=ana.headers, json=SESSION)
    assert created.status_code == 201, created.text
    ds = created.json()
    sid = ds["id"]
    assert ds["area"] == "Hampden" and ds["starts_at"] == "2026-07-10T22:00:00+00:00"
    invited = client.post(f"/api/v1/sessions/{sid}/invite", headers=ana.headers)
    assert invited.json() == {"session_id": sid, "invited": 3}
    with Session(db_engine) as s:
        assert len(s.exec(select(Outbox).where(Outbox.kind == "invitation")).all()) == 3
    rsvps = client.get(f"/api/v1/sessions/{sid}/rsvps", headers=ana.headers).json()
    assert rsvps["invited"] == 3 and rsvps["attended"] == 0
    checked = client.post(f"/api/v1/sessions/{sid}/checkin", headers=ana.headers,
                          json={"number": "(410) 555-0102"})
    assert checked.json() == {"session_id": sid, "first_time": True, "attended": 1}
    assert NUMBERS[1] not in checked.text
    again = client.post(f"/api/v1/sessions/{sid}/checkin", headers=ana.headers,
                        json={"number": NUMBERS[1]})
    assert again.json()["first_time"] is False
    bad = client.post(f"/api/v1/sessions/{sid}/checkin", headers=ana.headers,
                      json={"number": "123"})
    assert bad.status_code == 422 and "body.number" in bad.json()["detail"]
    with Session(db_engine) as s:
        known = len(s.exec(select(Participant)).all())
    stranger = client.post(f"/api/v1/sessions/{sid}/checkin", headers=ana.headers,
                           json={"number": "+14105559999"})  # never texted engage
    assert stranger.status_code == 422 and "has texted engage" in stranger.json()["detail"]
    with Session(db_engine) as s:  # reported, never created (nothing can be queued to it)
        assert len(s.exec(select(Participant)).all()) == known
    shown = client.get(f"/api/v1/sessions/{sid}", headers=ana.headers).json()
    assert shown["rsvps"]["attended"] == 1 and len(shown["checkin_code"]) >= 4
    briefing = client.get(f"/api/v1/sessions/{sid}/briefing", headers=ana.headers)
    assert briefing.status_code == 200 and briefing.json()["area"] == "Hampden"
    markdown = client.get(f"/api/v1/sessions/{sid}/briefing",
                          headers={**ana.headers, "Accept": "text/markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "Hampden" in markdown.text
    closed = client.post(f"/api/v1/sessions/{sid}/close", headers=ana.headers)
    assert closed.json()["status"] == "closed"
    late = client.post(f"/api/v1/sessions/{sid}/checkin", headers=ana.headers,
                       json={"number": NUMBERS[0]})
    assert late.status_code == 409 and "closed" in late.json()["detail"]
    with Session(db_engine) as s:
        actions = [e.action for e in s.exec(select(AuditEntry).order_by(AuditEntry.seq)  # type: ignore[arg-type]
                                            ).all()]
        text = json.dumps([e.details for e in s.exec(select(AuditEntry))])
    for action in ("dialogue.created", "dialogue.invited", "export.briefing", "dialogue.closed"):
        assert action in actions
    assert all(n not in text for n in NUMBERS)


def test_another_mediators_session_is_404_and_not_listed(
        client: TestClient, accounts: dict[str, Account]) -> None:
    ana, ben, admin = accounts["mediator"], accounts["other_mediator"], accounts["admin"]
    sid = client.post("/api/v1/sessions", headers=ana.headers, json=SESSION).json()["id"]
    for method, path in (("GET", ""), ("GET", "/rsvps"), ("GET", "/briefing"),
                         ("POST", "/invite"), ("POST", "/close")):
        response = client.request(method, f"/api/v1/sessions/{sid}{path}", headers=ben.headers)
        assert response.status_code == 404, path
        assert response.json()["detail"] == f"no dialogue session with id {sid} among yours"
    assert client.get("/api/v1/sessions", headers=ben.headers).json()["total"] == 0
    assert client.get("/api/v1/sessions", headers=ana.headers).json()["total"] == 1
    assert client.get("/api/v1/sessions", headers=admin.headers).json()["total"] == 1
    assert client.get(f"/api/v1/sessions/{sid}", headers=admin.headers).status_code == 200


def test_areas_are_checked(client: TestClient, accounts: dict[str, Account]) -> None:
    ana = accounts["mediator"]  # limited to the Northern district
    outside = client.post("/api/v1/sessions", headers=ana.headers,
                          json={**SESSION, "area": "Canton"})
    assert outside.status_code == 403 and "limited to Northern" in outside.json()["detail"]
    unknown = client.post("/api/v1/sessions", headers=ana.headers,
                          json={**SESSION, "area": "Atlantis"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body.area"
    past = client.post("/api/v1/sessions", headers=ana.headers,
                       json={**SESSION, "starts_at": "2026-06-01T18:00:00"})
    assert past.status_code == 422 and "the start must be in the future" in past.json()["detail"]
    zone = client.post("/api/v1/sessions", headers=ana.headers,
                       json={**SESSION, "timezone": "Mars/Olympus"})
    assert zone.status_code == 422 and zone.json()["errors"][0]["field"] == "body.timezone"


def test_staff_cannot_touch_sessions(client: TestClient, accounts: dict[str, Account]) -> None:
    response = client.post("/api/v1/sessions", headers=accounts["staff"].headers, json=SESSION)
    assert response.status_code == 403 and "staff" in response.json()["detail"]
