"""Console fixtures: the real app (FastAPI, SQLAlchemy, accounts) on the test database, users
of every role with real Argon2 passwords, and a logged-in TestClient per role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from engage.accounts import service
from engage.config import Settings
from engage.scheduling import dialogue
from engage.storage.db import session_scope
from engage.web.app import create_app

PASSWORD = "plum kettle orbit 7 lantern"
ROLES = ("admin", "staff", "mediator")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(engine: Engine, email: str, role: str, areas: tuple[str, ...] = (),
              password: str = PASSWORD) -> int:
    now = datetime.now(UTC)
    with session_scope(engine) as db:
        user = service.create_user(session=db, email=email, role=role, areas=areas, now=now)
        raw = service.issue_setup_link(session=db, user=user, now=now)
        service.redeem_setup_link(session=db, raw=raw, password=password, now=now)
        return int(user.id or 0)


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/console/login")
    return client.post("/console/login", data={"email": email, "password": password,
                                               "csrf_token": csrf_of(page.text)},
                       follow_redirects=False)


@dataclass
class Console:
    app: Any
    engine: Engine
    settings: Settings
    users: dict[str, int]
    session_id: int  # a dialogue session owned by the mediator

    def client(self, role: str | None = None) -> TestClient:
        client = TestClient(self.app, base_url="http://testserver")
        if role is not None:
            response = login(client, f"{role}@city.example")
            assert response.status_code == 303, response.text
        return client


@pytest.fixture
def console(db_engine: Engine, settings: Settings) -> Iterator[Console]:
    app = create_app(settings, engine=db_engine, start_background=False)
    users = {role: make_user(db_engine, f"{role}@city.example", role) for role in ROLES}
    now = datetime.now(UTC)
    with session_scope(db_engine) as db:
        ds = dialogue.create_session(
            session=db, settings=settings, title="Eastern listening session", area="Eastern",
            place="Library", starts_at=now + timedelta(days=3),
            ends_at=now + timedelta(days=3, hours=2), capacity=10,
            mediator=f"user:{users['mediator']}", now=now)
        session_id = int(ds.id or 0)
    with TestClient(app):
        yield Console(app, db_engine, settings, users, session_id)
    app.state.runtime.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    """Keep each phase's report on the test item (the browser tests screenshot on failure)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, "rep_" + report.when, report)
