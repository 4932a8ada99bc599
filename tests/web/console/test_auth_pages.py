"""Setting a password from a link, the TOTP second step (forced for admins in production),
and an account disabled while logged in."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

import pyotp
from fastapi.testclient import TestClient

from engage.accounts import service
from engage.storage.db import session_scope
from engage.web.app import create_app
from tests.web.console.conftest import PASSWORD, Console, csrf_of, login


def _link(console: Console, email: str, role: str = "staff") -> str:
    now = datetime.now(UTC)
    with session_scope(console.engine) as db:
        user = service.create_user(session=db, email=email, role=role, now=now)
        return service.issue_setup_link(session=db, user=user, now=now)


def test_setup_link_sets_a_password_once(console: Console) -> None:
    raw = _link(console, "new@city.example")
    client = console.client()
    page = client.get("/console/setup", params={"token": raw})
    assert page.status_code == 200
    form = {"csrf_token": csrf_of(page.text), "token": raw}
    weak = client.post("/console/setup", data={**form, "password": "password1234",
                                                "confirm": "password1234"})
    assert weak.status_code == 400 and "too common" in weak.text
    differ = client.post("/console/setup", data={**form, "password": PASSWORD,
                                                  "confirm": PASSWORD + "x"})
    assert differ.status_code == 400 and "not the same" in differ.text
    done = client.post("/console/setup", data={**form, "password": PASSWORD,
                                                "confirm": PASSWORD})
    assert done.status_code == 200 and "Password set" in done.text
    again = client.get("/console/setup", params={"token": raw})
    assert again.status_code == 400 and "already used" in again.text
    assert login(console.client(), "new@city.example").status_code == 303
    unknown = client.get("/console/setup", params={"token": "nonsense"})
    assert unknown.status_code == 400 and "not valid" in unknown.text


def test_admins_enrol_a_second_factor_in_production(console: Console) -> None:
    production = console.settings.model_copy(update={
        "env": "production", "database_url": str(console.engine.url),
        "secret_key": secrets.token_urlsafe(32), "public_url": "https://engage.example",
        "twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": "t" * 32})
    app = create_app(production, engine=console.engine, start_background=False)
    try:
        client = TestClient(app, base_url="https://testserver")  # the cookie is Secure
        first = login(client, "admin@city.example")
        assert first.headers["location"].startswith("/console/totp/enrol")
        assert client.get("/console/overview", follow_redirects=False).status_code == 302
        page = client.get(first.headers["location"])
        secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page.text).group(1)  # type: ignore[union-attr]
        wrong = client.post(first.headers["location"], data={
            "csrf_token": csrf_of(page.text), "secret": secret, "code": "000000"})
        assert wrong.status_code == 400 and "does not match" in wrong.text
        done = client.post(first.headers["location"], data={
            "csrf_token": csrf_of(page.text), "secret": secret,
            "code": pyotp.TOTP(secret).now()}, follow_redirects=False)
        assert done.status_code == 303
        assert client.get("/console/users").status_code == 200
        assert "Secure" in client.get("/console/users").headers["set-cookie"]

        # the next login asks for the code, after the password
        later = TestClient(app, base_url="https://testserver")
        step = login(later, "admin@city.example")
        assert step.headers["location"].startswith("/console/totp")
        code_page = later.get(step.headers["location"])
        bad = later.post(step.headers["location"], data={"csrf_token": csrf_of(code_page.text),
                                                          "code": "123456"})
        assert bad.status_code == 400 and "Wrong email, password or code" in bad.text
    finally:
        app.state.runtime.close()


def test_a_disabled_account_is_logged_out_at_its_next_request(console: Console) -> None:
    staff = console.client("staff")
    assert staff.get("/console/overview").status_code == 200
    admin = console.client("admin")
    page = admin.get("/console/users")
    response = admin.post(f"/console/users/{console.users['staff']}/disable",
                          data={"csrf_token": csrf_of(page.text)})
    assert "can no longer log in" in response.text
    assert staff.get("/console/overview", follow_redirects=False).status_code == 302
    assert login(console.client(), "staff@city.example").status_code == 400


def test_admin_invites_from_the_users_page(console: Console) -> None:
    admin = console.client("admin")
    page = admin.get("/console/users")
    bad = admin.post("/console/users/add", data={"csrf_token": csrf_of(page.text),
                                                  "email": "x@city.example", "role": "mediator",
                                                  "areas": "Atlantis"})
    assert bad.status_code == 400 and "unknown area" in bad.text.lower()
    good = admin.post("/console/users/add", data={"csrf_token": csrf_of(page.text),
                                                   "email": "Kim@City.example",
                                                   "role": "mediator", "areas": "Eastern"})
    assert good.status_code == 200
    assert re.search(r'value="http://[^"]+/console/setup\?token=[\w-]+"', good.text)
    assert "kim@city.example" in good.text
