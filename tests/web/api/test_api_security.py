"""Who may call what: the role matrix generated from the route table, tokens (revoked,
expired, disabled), the rate limit, and logs that never carry a token."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from engage.accounts import service
from engage.accounts.roles import PERMISSIONS, Permission, Role
from engage.storage.db import session_scope
from engage.web.api import ROUTERS
from engage.web.api.security import PERMISSIONS_KEY
from tests.web.api.conftest import ROLES, Account


def _routes(app: FastAPI) -> list[tuple[str, str, list[Permission]]]:
    """(method, path, permissions) of every route in the API's route table."""
    out = []
    for route in (r for router in ROUTERS for r in router.routes):
        assert isinstance(route, APIRoute)
        extra = route.openapi_extra or {}
        assert PERMISSIONS_KEY in extra, f"{route.path} declares no permissions"
        for method in sorted(route.methods or ()):
            out.append((method, route.path, [Permission(p) for p in extra[PERMISSIONS_KEY]]))
    return out


def test_every_route_declares_who_may_call_it(app: FastAPI) -> None:
    routes = _routes(app)
    assert len(routes) >= 17
    public = [path for _, path, needed in routes if not needed]
    assert public == ["/v1/public/summary"]


def test_role_matrix(app: FastAPI, client: TestClient, accounts: dict[str, Account]) -> None:
    """Every route x every role and anonymous: 401 without a token, 403 for a role without
    the permission, anything else (200, 404 for a made-up id, 422 for an empty body) when
    allowed. Generated from the route table, so a new route cannot be left out."""
    checked = 0
    for method, path, needed in _routes(app):
        url = "/api" + re.sub(r"\{[^}]+\}", "999999", path)
        for who in (*ROLES, None):
            headers = accounts[who].headers if who else {}
            response = client.request(method, url, headers=headers, json={} if
                                      method == "POST" else None)
            allowed = not needed or (who is not None and any(
                p in PERMISSIONS[Role(who)] for p in needed))
            if who is None and needed:
                expected: set[int] | None = {401}
            elif not allowed:
                expected = {403}
            else:
                expected = None
            context = f"{method} {path} as {who or 'anonymous'}: {response.status_code}"
            if expected is not None:
                assert response.status_code in expected, context
            else:
                assert response.status_code not in (401, 403, 500), context
                if "{" in path:
                    assert response.status_code in (404, 422), context
                elif method == "GET":
                    assert response.status_code == 200, context
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
                body = response.json()
                assert body["status"] == response.status_code and body["detail"]
            checked += 1
    assert checked == len(_routes(app)) * 4


def test_401_says_how_to_authenticate(client: TestClient, accounts: dict[str, Account]) -> None:
    for headers in ({}, {"Authorization": "Bearer eng_made_up"}, {"Authorization": "Basic x"}):
        response = client.get("/api/v1/flows", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["title"] == "Unauthorized"


def test_revocation_takes_effect_on_the_next_request(
        client: TestClient, accounts: dict[str, Account], db_engine: Engine, clock: Any) -> None:
    staff = accounts["staff"]
    assert client.get("/api/v1/flows", headers=staff.headers).status_code == 200
    with session_scope(db_engine) as s:
        service.revoke_token(session=s, token=service.find_token(session=s,
                                                                 token_or_id=staff.token),
                             now=clock())
    response = client.get("/api/v1/flows", headers=staff.headers)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_expired_tokens_and_disabled_users_are_refused(
        client: TestClient, accounts: dict[str, Account], db_engine: Engine, clock: Any) -> None:
    with session_scope(db_engine) as s:
        user = service.get_user(session=s, user_id=accounts["staff"].user_id)
        assert user is not None
        short, _ = service.create_token(session=s, user=user, now=clock(),
                                        expires_in=timedelta(hours=1))
    headers = {"Authorization": f"Bearer {short}"}
    assert client.get("/api/v1/flows", headers=headers).status_code == 200
    clock.advance(hours=1)
    assert "expired" in client.get("/api/v1/flows", headers=headers).json()["detail"]
    with session_scope(db_engine) as s:
        user = service.get_user(session=s, user_id=accounts["staff"].user_id)
        assert user is not None
        service.disable_user(session=s, user=user, now=clock())
    response = client.get("/api/v1/flows", headers=accounts["staff"].headers)
    assert response.status_code == 401 and "disabled" in response.json()["detail"]


def test_token_use_is_recorded_at_most_once_a_minute(
        client: TestClient, accounts: dict[str, Account], db_engine: Engine, clock: Any) -> None:
    staff = accounts["staff"]

    def last_used() -> Any:
        with session_scope(db_engine) as s:
            return service.find_token(session=s, token_or_id=staff.token).last_used_at

    client.get("/api/v1/flows", headers=staff.headers)
    assert last_used() == clock()
    first = clock()
    clock.advance(seconds=30)
    client.get("/api/v1/flows", headers=staff.headers)
    assert last_used() == first
    clock.advance(seconds=30)
    client.get("/api/v1/flows", headers=staff.headers)
    assert last_used() == clock()


def test_logs_never_carry_a_token(client: TestClient, accounts: dict[str, Account],
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    staff = accounts["staff"]
    client.get("/api/v1/flows", headers=staff.headers)
    client.get("/api/v1/summary?period=2026Q9", headers=staff.headers)
    client.get("/api/v1/campaigns", headers=accounts["mediator"].headers)
    client.get("/api/v1/flows", headers={"Authorization": f"Bearer {staff.token}x"})
    text = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert staff.token not in text and staff.token[4:20] not in text
    assert accounts["mediator"].token not in text
