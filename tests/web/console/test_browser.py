"""Real-browser walks (Playwright driving Debian's chromium) against the real server (uvicorn
on an ephemeral loopback port): the mediator's evening and the staffer's campaign, with an
axe-core check of every page visited. Screenshots are saved on failure."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from engage.config import Settings
from engage.storage.db import create_schema, make_engine
from engage.web.app import create_app
from engage.web.console.render import STATIC
from tests.web.console.conftest import PASSWORD, make_user
from tests.web.console.seed import residents_said_yes

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


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'console.sqlite3'}")
    create_schema(engine)
    config = uvicorn.Config(None, host="127.0.0.1", port=0, log_level="warning",  # type: ignore[arg-type]
                            access_log=False)
    srv = uvicorn.Server(config)
    # The public URL must name the real port, known only once the socket is bound.
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"public_url": url}), engine=engine,
                     start_background=False)
    config.app = app
    thread = threading.Thread(target=lambda: srv.run(sockets=[sock]), daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started
    yield url, app
    srv.should_exit = True
    thread.join(10)
    app.state.runtime.close()
    engine.dispose()


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


def test_mediator_is_invited_schedules_and_checks_people_in(server: tuple[str, Any],
                                                            page_factory: Any) -> None:
    url, app = server
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
    assert "Password set" in mediator.content()
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
    session_id = int(re.search(r"/console/sessions/(\d+)", mediator.url).group(1))  # type: ignore[union-attr]
    axe_check(mediator)

    residents_said_yes(app, session_id, ["+14105550101", "+14105550102"])
    mediator.reload()
    assert mediator.locator("[data-count=yes]").inner_text() == "2"
    assert "(410) 555-0101" in mediator.content() or "+14105550101" in mediator.content()

    door = page_factory(390, 844)
    door.context.add_cookies(mediator.context.cookies())
    door.goto(f"{url}/console/sessions/{session_id}/checkin")
    axe_check(door)
    assert door.evaluate("document.documentElement.scrollWidth") <= 390
    door.get_by_role("button", name=re.compile("Check in .*0101")).click()
    assert "checked in" in door.content()
    assert door.locator("[data-count=attended]").inner_text() == "1"

    mediator.goto(f"{url}/console/sessions/{session_id}/briefing")
    axe_check(mediator)
    with mediator.expect_download() as download:
        mediator.get_by_role("link", name="Download (Markdown)").click()
    assert "Eastern" in Path(download.value.path()).read_text()


def test_staff_creates_and_starts_a_campaign_and_downloads_a_summary(
        server: tuple[str, Any], page_factory: Any) -> None:
    url, app = server
    make_user(app.state.engine, "sam@city.example", "staff")
    page = page_factory()
    log_in(page, url, "sam@city.example")
    axe_check(page)
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    axe_check(page)
    page.get_by_label("Name (for staff screens)").fill("Autumn survey")
    page.get_by_label("Audience").select_option("district:Eastern")
    page.wait_for_function("document.querySelector('#reach').textContent.includes('reaches')")
    page.get_by_role("button", name="Create campaign").click()
    axe_check(page)
    page.get_by_role("button", name="Start").click()
    assert page.locator(".status").inner_text() == "scheduled"
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


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, "rep_" + report.when, report)


