"""The API over the real app, runtime and database, with one user and token per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from engage.accounts import service
from engage.analytics import summary_cache
from engage.config import Settings
from engage.storage.db import session_scope
from engage.web.app import create_app

ROLES = ("admin", "staff", "mediator")


@dataclass
class Account:
    user_id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def add_account(engine: Engine, clock: Any, role: str, email: str,
                areas: tuple[str, ...] = ()) -> Account:
    with session_scope(engine) as s:
        user = service.create_user(session=s, email=email, role=role, areas=areas, now=clock())
        raw, _ = service.create_token(session=s, user=user, now=clock(), name="tests")
        assert user.id is not None
        return Account(user.id, user.email, raw)


def api_of(app: FastAPI) -> FastAPI:
    """The mounted API application (its routes are the route table)."""
    mounted = next(r for r in app.routes if getattr(r, "path", "") == "/api")
    api: FastAPI = mounted.app  # type: ignore[attr-defined]
    return api


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings


@pytest.fixture
def app(db_engine: Engine, api_settings: Settings, catalog: Any, clock: Any
        ) -> Iterator[FastAPI]:
    from engage.runtime import Runtime

    summary_cache.clear()
    runtime = Runtime(engine=db_engine, settings=api_settings, catalog=catalog, clock=clock)
    yield create_app(api_settings, engine=db_engine, runtime=runtime, start_background=False)
    runtime.close()
    summary_cache.clear()


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=True)


@pytest.fixture
def accounts(db_engine: Engine, clock: Any) -> dict[str, Account]:
    """admin, staff, a mediator limited to the Northern district, and a second mediator."""
    return {
        "admin": add_account(db_engine, clock, "admin", "admin@city.example"),
        "staff": add_account(db_engine, clock, "staff", "staff@city.example"),
        "mediator": add_account(db_engine, clock, "mediator", "ana@city.example",
                                ("Northern",)),
        "other_mediator": add_account(db_engine, clock, "mediator", "ben@city.example"),
    }
