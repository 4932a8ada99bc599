"""Dialogue sessions from the mediator's side: own sessions only, own areas only, check-in by
hand, the briefing download audited."""

from __future__ import annotations

from sqlmodel import Session, select

from engage.storage.tables import AuditEntry
from tests.web.console.conftest import Console, csrf_of, login, make_user
from tests.web.console.seed import residents_said_yes


def test_another_mediators_session_is_not_found(console: Console) -> None:
    make_user(console.engine, "other@city.example", "mediator")
    other = console.client()
    assert login(other, "other@city.example").status_code == 303
    response = other.get(f"/console/sessions/{console.session_id}")
    assert response.status_code == 404
    assert "Eastern listening session" not in other.get("/console/sessions").text


def test_a_mediator_limited_to_an_area_can_only_choose_it(console: Console) -> None:
    make_user(console.engine, "hampden@city.example", "mediator", areas=("Southern",))
    client = console.client()
    login(client, "hampden@city.example")
    page = client.get("/console/sessions/new")
    assert "<option>Southern</option>" in page.text and "<option>Eastern</option>" not in page.text
    response = client.post("/console/sessions/new", data={
        "csrf_token": csrf_of(page.text), "title": "T", "area": "Eastern", "place": "P",
        "start": "2030-01-01T18:00", "end": "2030-01-01T19:00", "capacity": "5"})
    assert response.status_code == 400 and "one of your areas" in response.text


def test_check_in_by_hand_and_by_number(console: Console) -> None:
    residents_said_yes(console.app, console.session_id, ["+14105550191", "+14105550192"])
    client = console.client("mediator")
    path = f"/console/sessions/{console.session_id}/checkin"
    page = client.get(path)
    assert 'data-count="attended">0<' in page.text
    first = client.post(path, data={"csrf_token": csrf_of(page.text), "number": "410-555-0191"})
    assert "checked in." in first.text and 'data-count="attended">1<' in first.text
    again = client.post(path, data={"csrf_token": csrf_of(page.text), "number": "4105550191"})
    assert "already checked in" in again.text
    bad = client.post(path, data={"csrf_token": csrf_of(page.text), "number": "not a phone"})
    assert bad.status_code == 400


def test_briefing_download_is_written_and_audited(console: Console) -> None:
    client = console.client("mediator")
    response = client.get(f"/console/sessions/{console.session_id}/briefing.md")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert "Eastern" in response.text
    with Session(console.engine) as db:
        entry = db.exec(select(AuditEntry).where(AuditEntry.action == "export.briefing")).one()
    assert entry.actor == f"user:{console.users['mediator']}"


def test_titles_and_places_typed_by_people_are_shown_as_text(console: Console) -> None:
    client = console.client("mediator")
    page = client.get("/console/sessions/new")
    hostile = '"><img src=x onerror=alert(1)> <script>alert(2)</script>'
    response = client.post("/console/sessions/new", data={
        "csrf_token": csrf_of(page.text), "title": hostile, "area": "Eastern", "place": hostile,
        "start": "2030-01-01T18:00", "end": "2030-01-01T19:00", "capacity": "5"})
    assert response.status_code == 200
    for text in (response.text, client.get("/console/sessions").text):
        assert "<img src=x" not in text and "<script>alert(2)" not in text
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in text
