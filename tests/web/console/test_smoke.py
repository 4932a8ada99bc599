"""Each role logs in and every page it may open renders."""

from __future__ import annotations

from tests.web.console.conftest import Console


def test_staff_walks_the_console(console: Console) -> None:
    client = console.client("staff")
    for path in ("/console/overview", "/console/campaigns", "/console/campaigns/new",
                 "/console/summaries", "/console/flows", "/console/flows/satisfaction",
                 "/console/audit", "/public/", "/public/es/"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:2000])


def test_mediator_walks_their_session(console: Console) -> None:
    client = console.client("mediator")
    sid = console.session_id
    for path in ("/console/sessions", "/console/sessions/new", f"/console/sessions/{sid}",
                 f"/console/sessions/{sid}/checkin", f"/console/sessions/{sid}/briefing"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:2000])


def test_admin_sees_users(console: Console) -> None:
    response = console.client("admin").get("/console/users")
    assert response.status_code == 200
    assert "mediator@city.example" in response.text
