"""Real-browser walks (Playwright driving Debian's chromium) against the real server (uvicorn
on an ephemeral loopback port): the mediator's evening and the staffer's campaign, with an
axe-core check of every page visited. Screenshots are saved on failure."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn

from engage.channels.sms import SIGNATURE_HEADER, sign
from engage.config import Settings
from engage.storage.db import create_schema, make_engine, session_scope
from engage.web.app import create_app
from engage.web.console.render import STATIC
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioAPI
from tests.web.console.conftest import PASSWORD, make_user

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
AXE = STATIC / "vendor" / "axe-4.14.1.min.js"
SHOTS = Path(os.environ.get("ENGAGE_SCREENSHOTS", "var/screenshots"))

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing in CI (.ci/run installs it)")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); browser tests skipped",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


def _quiet_hours_far_from_now(tz: str) -> str:
    """A one-minute quiet window twelve hours away, so invitations go out whatever the hour."""
    local = datetime.now(ZoneInfo(tz)) + timedelta(hours=12)
    return f"{local:%H}:00-{local:%H}:01"


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    """engage as it runs in production, on SQLite: uvicorn on an ephemeral loopback port, the
    dispatcher and the scheduler leader running in it, SMS going to the loopback fake Twilio."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    engine = make_engine(f"sqlite:///{tmp_path / 'console.sqlite3'}")
    create_schema(engine)
    with FakeTwilioAPI() as api:
        live = settings.model_copy(update={
            "public_url": url, "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
            "twilio_from_number": OUR_NUMBER, "twilio_api_url": api.url,
            "quiet_hours": _quiet_hours_far_from_now(settings.timezone)})
        app = create_app(live, engine=engine)
        srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        thread = threading.Thread(target=lambda: srv.run(sockets=[sock]), daemon=True)
        thread.start()
        for _ in range(200):
            if srv.started:
                break
            time.sleep(0.05)
        assert srv.started
        yield Server(url, app, api)
        srv.should_exit = True
        thread.join(15)
    engine.dispose()


@dataclass
class Server:
    url: str
    app: Any
    api: FakeTwilioAPI

    def text(self, number: str, body: str) -> None:
        """A resident texts the bot: the webhook Twilio would send, signed as Twilio signs."""
        form = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": ACCOUNT_SID,
                "From": number, "To": OUR_NUMBER, "Body": body, "NumMedia": "0"}
        path = "/webhooks/twilio/sms"
        response = httpx.post(self.url + path, data=form, headers={
            SIGNATURE_HEADER: sign(AUTH_TOKEN, self.url + path, form)})
        assert response.status_code == 200, response.text

    def wait_for_text(self, number: str, words: str, timeout: float = 20) -> str:
        """What the resident's phone received containing ``words`` (the dispatcher sends it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in self.api.bodies_to(number):
                if words in body:
                    return body
            time.sleep(0.2)
        raise AssertionError(f"no message with {words!r}: {self.api.bodies_to(number)}")

    def resident(self, number: str, district: str = "Eastern", **consents: str) -> None:
        """Someone who answered an earlier survey in ``district`` and agreed to ``consents``."""
        area = {"Eastern": "Ellwood Park", "Southern": "Federal Hill"}[district]
        with session_scope(self.app.state.engine) as db:
            p = self.app.state.runtime.participant_for(db, "sms", number, datetime.now(UTC))
            p.area, p.district = area, district
            for scope, status in consents.items():
                setattr(p, f"consent_{scope}", status)
            db.add(p)

    def tick(self, name: str) -> None:
        """Run one scheduler tick now (the leader runs it every few seconds anyway)."""
        from engage.scheduling.ticks import Ticks

        state = self.app.state
        Ticks(engine=state.engine, settings=state.settings, runtime=state.runtime
              ).jobs()[name](datetime.now(UTC))


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page_factory(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    pages: list[Any] = []

    def make(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      accept_downloads=True)
        page = context.new_page()
        pages.append(page)
        return page

    yield make
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        SHOTS.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(pages):
            page.screenshot(path=str(SHOTS / f"{request.node.name}-{i}.png"), full_page=True)


def axe_check(page: Any) -> None:
    """No serious or critical accessibility findings on the page as it is now."""
    page.wait_for_load_state("load")  # a click that navigates may still be loading
    page.add_script_tag(url="/console/static/vendor/" + AXE.name)  # shipped; CSP allows 'self'
    result = page.evaluate("async () => (await axe.run()).violations.map("
                           "v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, (page.url, bad)


def log_in(page: Any, url: str, email: str) -> None:
    page.goto(url + "/console/login")
    axe_check(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/console/(?!login)"))


OUR_NUMBER = "+14435550000"
YES, ALSO_YES, NO = "+14105550101", "+14105550102", "+14105550103"


def test_mediator_is_invited_schedules_and_checks_people_in(server: Server,
                                                            page_factory: Any) -> None:
    url, app = server.url, server.app
    engine = app.state.engine
    make_user(engine, "admin@city.example", "admin")
    admin = page_factory()
    log_in(admin, url, "admin@city.example")
    admin.get_by_role("link", name="Users").click()
    axe_check(admin)
    admin.get_by_label("Email").fill("mo@city.example")
    admin.get_by_label("Role").select_option("mediator")
    admin.get_by_role("button", name="Create account and link").click()
    link = admin.locator("#setup-link").input_value()
    assert link.startswith(url + "/console/setup?token=")

    mediator = page_factory()
    mediator.goto(link)
    axe_check(mediator)
    mediator.get_by_label("New password", exact=True).fill(PASSWORD)
    mediator.get_by_label("New password again").fill(PASSWORD)
    mediator.get_by_role("button", name="Set password").click()
    expect(mediator.get_by_role("heading", name="Password set")).to_be_visible()
    log_in(mediator, url, "mo@city.example")
    assert mediator.url.endswith("/console/sessions")
    mediator.get_by_role("link", name="New session").click()
    axe_check(mediator)
    start = datetime.now(UTC) + timedelta(days=2)
    mediator.get_by_label("Title").fill("Eastern listening session")
    mediator.get_by_label("Area invited").select_option("Eastern")
    mediator.get_by_label("Place").fill("Library, 2nd floor")
    mediator.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT18:00"))
    mediator.get_by_label("Ends").fill(start.strftime("%Y-%m-%dT20:00"))
    mediator.get_by_role("button", name="Create session").click()
    mediator.wait_for_url(re.compile(r"/console/sessions/\d+$"))
    session_id = int(re.search(r"/console/sessions/(\d+)", mediator.url).group(1))  # type: ignore[union-attr]
    axe_check(mediator)

    for number in (YES, ALSO_YES, NO):
        server.resident(number, surveys="granted", dialogue="granted")
    mediator.get_by_role("button", name="Invite residents of Eastern").click()
    expect(mediator.get_by_role("status")).to_have_text("3 invitations queued.")
    for number, answer in ((YES, "yes"), (ALSO_YES, "I'll be there"), (NO, "no")):
        server.wait_for_text(number, "Eastern listening session")
        server.text(number, answer)
    server.wait_for_text(YES, "Do you need anything")
    server.text(YES, "1")  # needs: childcare
    server.tick("dialogues")  # the leader records RSVPs every 30 s; do not wait for it
    mediator.reload()
    assert mediator.locator("[data-count=yes]").inner_text() == "2"
    assert mediator.locator("[data-count=no]").inner_text() == "1"
    assert YES in mediator.content() and NO not in mediator.content()

    door = page_factory(390, 844)
    door.context.add_cookies(mediator.context.cookies())
    door.goto(f"{url}/console/sessions/{session_id}/checkin")
    axe_check(door)
    assert door.evaluate("document.documentElement.scrollWidth") <= 390
    door.get_by_role("button", name=re.compile("Check in .*0101")).click()
    expect(door.locator("[data-count=attended]")).to_have_text("1")
    expect(door.get_by_role("status")).to_contain_text("checked in")

    mediator.goto(f"{url}/console/sessions/{session_id}/briefing")
    axe_check(mediator)
    with mediator.expect_download() as download:
        mediator.get_by_role("link", name="Download (Markdown)").click()
    assert "Eastern" in Path(download.value.path()).read_text()


def test_staff_creates_and_starts_a_campaign_and_downloads_a_summary(
        server: Server, page_factory: Any) -> None:
    url, app = server.url, server.app
    make_user(app.state.engine, "sam@city.example", "staff")
    for i in range(3):
        server.resident(f"+1410555020{i}", surveys="granted")
    server.resident("+14105550299", district="Southern", surveys="granted")
    page = page_factory()
    log_in(page, url, "sam@city.example")
    axe_check(page)
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    axe_check(page)
    page.get_by_label("Name (for staff screens)").fill("Autumn survey")
    expect(page.locator("#reach b")).to_have_text("4")  # everyone who agreed to surveys
    page.get_by_label("Audience").select_option("district:Eastern")
    expect(page.locator("#reach b")).to_have_text("3")  # htmx fetched the new count
    page.get_by_role("button", name="Create campaign").click()
    axe_check(page)
    page.get_by_role("button", name="Start").click()
    # the campaign tick (every 5 s) invites; the progress table refreshes itself every 3 s
    expect(page.locator("[data-step=invited]")).to_have_text("3", timeout=30_000)
    assert page.locator(".status").inner_text() == "running"
    server.wait_for_text("+14105550200", "")
    page.get_by_role("link", name="Summaries").click()
    axe_check(page)
    page.get_by_role("button", name="Preview").click()
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("Download with method note")).click()
    assert download.value.suggested_filename.endswith(".csv.zip")
    for path in ("/console/overview", "/console/flows", "/console/audit", "/public/",
                 "/public/es/"):
        page.goto(url + path)
        axe_check(page)


def test_staff_moderate_and_read_a_conversation(server: Server, page_factory: Any) -> None:
    """The staffer's deliberation walk: list, results with the map, moderation by keyboard,
    then the public page showing what every group agrees on once the conversation closed."""
    from engage.deliberation.store import add_statement
    from tests.deliberation.seed import two_camps

    url, engine = server.url, server.app.state.engine
    make_user(engine, "dee@city.example", "staff")
    conv, _ = two_camps(engine, agreed="Lights <b>on</b> the bus routes.",
                        closes_at=datetime.now(UTC) - timedelta(hours=1))
    with session_scope(engine) as db:
        add_statement(db, conv, "Fix the park lights.", author_kind="resident")
        add_statement(db, conv, "Totally off topic.", author_kind="resident")
    page = page_factory()
    log_in(page, url, "dee@city.example")
    page.get_by_role("link", name="Deliberation").click()
    axe_check(page)
    page.get_by_role("link", name="Greenmount safety").click()
    axe_check(page)
    picture = page.get_by_role("img", name=re.compile("Opinion groups: group A 15 people"))
    expect(picture).to_be_visible()
    assert picture.evaluate("img => img.naturalWidth") == 640  # the SVG route loaded
    expect(page.get_by_role("cell", name="Lights <b>on</b> the bus routes.")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"^Approve #\d+$")).first.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Statement approved.")
    page.get_by_label(re.compile("Reason for rejecting")).fill("Not about safety")
    page.once("dialog", lambda dialog: dialog.accept())  # console.js confirms a rejection
    page.get_by_role("button", name=re.compile(r"^Reject #\d+$")).click()
    expect(page.get_by_role("status")).to_have_text("Statement rejected.")
    expect(page.get_by_text("Nothing waiting.")).to_be_visible()
    axe_check(page)
    for path in ("/public/", "/public/es/"):
        page.goto(url + path)
        axe_check(page)
    expect(page.get_by_text("Lights <b>on</b> the bus routes.")).to_be_visible()
