"""Every console route x every role (and anonymous), generated from the route table: a new
route without a declared permission, or with one the table below does not know, fails here."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from engage.accounts.roles import Permission
from engage.deliberation.store import create_conversation
from engage.storage.db import session_scope
from engage.web.console import _routers
from engage.web.console.auth_routes import OPEN_PATHS
from engage.web.console.guard import need
from tests.web.console.conftest import Console, csrf_of

# Who holds what, written out from issue 17 (not read from the code under test).
HOLDERS: dict[Permission | None, set[str]] = {
    None: {"admin", "staff", "mediator"},
    Permission.USERS: {"admin"},
    Permission.CAMPAIGNS: {"admin", "staff"},
    Permission.FLOWS_READ: {"admin", "staff"},
    Permission.SUMMARIES: {"admin", "staff"},
    Permission.EXPORTS: {"admin", "staff"},
    Permission.AUDIT_STATUS: {"admin", "staff"},
    Permission.SESSIONS_OWN: {"admin", "mediator"},
    Permission.DELIBERATION_OWN: {"admin", "staff", "mediator"},
}


def _all_routes() -> list[APIRoute]:
    """The console's route table: every route of every router ``install`` includes."""
    return [r for router in _routers() for r in router.routes  # type: ignore[attr-defined]
            if isinstance(r, APIRoute)]


def console_routes(app: object) -> list[tuple[str, str, Permission | None]]:
    out = []
    for route in _all_routes():
        if not route.path.startswith("/console"):
            continue
        declared = [d.call for d in route.dependant.dependencies if isinstance(d.call, need)]
        if route.path in OPEN_PATHS:
            assert not declared, f"{route.path} is open yet declares a permission"
            continue
        assert len(declared) == 1, f"{route.path} declares no permission (Depends(need(...)))"
        for method in route.methods:
            out.append((method, route.path, declared[0].permission))
    return out


def _fill(path: str, console: Console) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: {
        "session_id": str(console.session_id), "campaign_id": "1", "flow_id": "satisfaction",
        "conversation_id": "1",
        "user_id": str(console.users["staff"]),
        "action": "disable" if "/users/" in path else "pause"}[m.group(1)], path)


# Object rules on top of the role: only a session's own mediator checks people in (an admin
# sees every session but is not at the door).
OWN_MEDIATOR_ONLY = {("POST", "/console/sessions/{session_id}/checkin")}


def test_every_console_route_declares_who_may_use_it(console: Console) -> None:
    routes = console_routes(console.app)
    assert len(routes) > 20
    assert {p for _, _, p in routes} <= set(HOLDERS)


@pytest.mark.parametrize("role", ["anonymous", "admin", "staff", "mediator"])
def test_role_matrix(console: Console, role: str) -> None:
    from tests.web.console.test_campaign_pages import make_campaign

    make_campaign(console)
    with session_scope(console.engine) as db:  # conversation 1, linked to the mediator's session
        create_conversation(db, topic="Eastern streets", dialogue_session_id=console.session_id)
    client = console.client(None if role == "anonymous" else role)
    token = csrf_of(client.get("/console/login").text)
    failures = []
    for method, path, permission in console_routes(console.app):
        url = _fill(path, console)
        if method == "GET":
            response = client.get(url, params={"period": "2026Q3"} if "download" in url else None,
                                  follow_redirects=False)
        else:
            response = client.request(method, url, data={"csrf_token": token},
                                      follow_redirects=False)
        if role == "anonymous":
            expected = {302}
        elif (method, path) in OWN_MEDIATOR_ONLY:
            expected = {200, 400} if role == "mediator" else {403}
        elif role in HOLDERS[permission]:
            expected = {200, 303, 400} if method == "POST" else {200, 303}
        else:
            expected = {403}
        if response.status_code not in expected:
            failures.append((method, path, response.status_code, sorted(expected)))
    assert not failures, failures
