"""CSRF on every form, security headers, the cookie's flags, rotation at login, timeouts,
and resident free text shown escaped wherever a page can show it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from engage.storage.db import session_scope
from engage.storage.tables import Participant, Response, Run
from engage.web.console.cookies import COOKIE_NAME, SessionCodec, fresh
from tests.web.console.conftest import PASSWORD, Console, csrf_of, login
from tests.web.console.test_role_matrix import _all_routes, _fill

HOSTILE = ('<script>alert(1)</script> and "><img src=x onerror=alert(2)> and '
           "**bold** [link](http://evil.example) are words I would never say here")


def test_every_form_post_without_the_csrf_token_is_refused(console: Console) -> None:
    client = console.client("admin")
    posts = [(m, r.path) for r in _all_routes() for m in r.methods if m == "POST"]
    assert len(posts) >= 10
    for _, path in posts:
        response = client.post(_fill(path, console), data={"csrf_token": "forged"},
                               follow_redirects=False)
        assert response.status_code == 403, path
        assert "reload the page" in response.text


def test_headers_and_cookie_flags(console: Console) -> None:
    response = console.client().get("/console/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "<script>" not in response.text.split("</head>")[1]  # no inline script


def test_login_rotates_the_session_and_bad_passwords_are_told_plainly(console: Console) -> None:
    client = console.client()
    client.get("/console/login")
    before = client.cookies[COOKIE_NAME]
    bad = login(client, "staff@city.example", "wrong password entirely")
    assert bad.status_code == 400 and "Wrong email, password or code" in bad.text
    good = login(client, "staff@city.example", PASSWORD)
    assert good.status_code == 303
    after = client.cookies[COOKIE_NAME]
    codec = SessionCodec(console.settings.secret_bytes())
    old, new = codec.loads(before, time.time()), codec.loads(after, time.time())
    assert old.sid != new.sid and old.csrf != new.csrf and new.user_id is not None


def test_idle_and_absolute_timeouts_end_a_session(console: Console) -> None:
    codec = SessionCodec(console.settings.secret_bytes())
    now = time.time()
    from dataclasses import replace

    session = replace(fresh(now), user_id=console.users["staff"])
    idle = replace(session, seen=now - codec.idle - 1)
    absolute = replace(session, issued=now - codec.absolute - 1)
    for stale in (idle, absolute):
        client = console.client()
        client.cookies.set(COOKIE_NAME, codec.dumps(stale), path="/console")
        response = client.get("/console/overview", follow_redirects=False)
        assert response.status_code == 302
        assert "ended after a period" in client.get(response.headers["location"]).text
    client = console.client()
    client.cookies.set(COOKIE_NAME, codec.dumps(session) + "x", path="/console")
    assert client.get("/console/overview", follow_redirects=False).status_code == 302


def _hostile_answers(console: Console) -> None:
    """Ten residents of Eastern, each with consented, quotable free text that is hostile."""
    now = datetime.now(UTC)
    with session_scope(console.engine) as db:
        for i in range(12):
            p = Participant(channel="sms", key=f"k{i:03d}", language="en", area="Ellwood Park",
                            district="Eastern", consent_surveys="granted", consent_quotes="granted",
                            created_at=now)
            db.add(p)
            db.flush()
            run = Run(participant_id=p.id, flow_id="satisfaction", status="completed",
                      state="{}", started_at=now, updated_at=now, ended_at=now)
            db.add(run)
            db.flush()
            db.add(Response(run_id=run.id, participant_id=p.id, flow_id="satisfaction",
                            name="safer", question_type="text", text=f"{HOSTILE} {i}",
                            sentiment=-0.5, area="Ellwood Park", district="Eastern",
                            answered_at=now))


def test_resident_text_is_escaped_on_every_page_that_shows_it(console: Console) -> None:
    _hostile_answers(console)
    client = console.client("mediator")
    page = client.get(f"/console/sessions/{console.session_id}/briefing")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "**bold**" in page.text and "<strong>" not in page.text
    preview = console.client("staff").get("/console/flows/satisfaction",
                                          params={"replies": HOSTILE})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in preview.text
    assert "<img src=x" not in preview.text


def test_contact_details_only_for_the_sessions_own_mediator_while_open(console: Console) -> None:
    from tests.web.console.seed import residents_said_yes

    residents_said_yes(console.app, console.session_id, ["+14105550177"])
    path = f"/console/sessions/{console.session_id}"
    assert "+14105550177" in console.client("mediator").get(path).text
    assert "+14105550177" not in console.client("admin").get(path).text
    from sqlmodel import Session, select

    from engage import audit  # noqa: F401
    from engage.storage.tables import AuditEntry

    with Session(console.engine) as db:
        actions = [e.action for e in db.exec(select(AuditEntry))]
    assert "dialogue.contacts_viewed" in actions
    mediator = console.client("mediator")
    page = mediator.get(path)
    mediator.post(path + "/close", data={"csrf_token": csrf_of(page.text)})
    assert "+14105550177" not in mediator.get(path).text


def test_static_assets_are_cacheable_and_carry_no_cookie(console: Console) -> None:
    response = console.client().get("/console/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers and "no-store" not in response.headers.get(
        "cache-control", "")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_cookie_carries_no_personal_data(console: Console) -> None:
    import base64

    client = console.client("staff")
    raw = client.cookies[COOKIE_NAME]
    payload = raw.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert "staff@city.example" not in decoded and "@" not in decoded
    session = SessionCodec(console.settings.secret_bytes()).loads(raw, time.time())
    assert session.user_id == console.users["staff"]


def test_an_htmx_request_after_the_session_ended_sends_the_page_to_login(
        console: Console) -> None:
    response = console.client().get("/console/campaigns/1/progress",
                                     headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 204
    assert response.headers["hx-redirect"] == "/console/login?next=/console/campaigns/1/progress"
