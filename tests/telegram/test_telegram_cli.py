"""``engage telegram`` commands against the fake Bot API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner

from engage.channels.deeplinks import read_code
from engage.channels.telegram_updates import ALLOWED_UPDATES, build_router
from engage.cli import app
from engage.config import get_settings
from tests.fakes.telegram_api import FakeTelegramAPI

runner = CliRunner()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[FakeTelegramAPI]:  # type: ignore[no-untyped-def]
    with FakeTelegramAPI() as fake:
        monkeypatch.setenv("ENGAGE_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("ENGAGE_SECRET_KEY", "cli-test-secret-0123456789abcdef0123")
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:CLI-token")
        monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret-token_value")
        monkeypatch.setenv("ENGAGE_TELEGRAM_API_URL", fake.url)
        monkeypatch.setenv("ENGAGE_PUBLIC_URL", "https://engage.example.org/")
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


def test_set_webhook_registers_url_secret_and_used_update_types(api: FakeTelegramAPI) -> None:
    result = runner.invoke(app, ["telegram", "set-webhook"])
    assert result.exit_code == 0, result.output
    (call,) = api.calls_to("setWebhook")
    assert call.params["url"] == "https://engage.example.org/webhooks/telegram"
    assert call.params["secret_token"] == "s3cret-token_value"
    assert call.params["allowed_updates"] == ALLOWED_UPDATES
    assert "s3cret" not in result.output


def test_allowed_updates_are_exactly_the_ones_the_router_handles() -> None:
    used = set(build_router().resolve_used_update_types())
    assert used == set(ALLOWED_UPDATES)


def test_set_webhook_refuses_without_secret(
    api: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET")
    get_settings.cache_clear()
    result = runner.invoke(app, ["telegram", "set-webhook"])
    assert result.exit_code == 1
    assert "TELEGRAM_WEBHOOK_SECRET" in result.output
    assert api.calls_to("setWebhook") == []


def test_api_error_is_one_line(api: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGAGE_TELEGRAM_API_URL", api.url + "/nowhere")
    get_settings.cache_clear()
    result = runner.invoke(app, ["telegram", "set-webhook"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: Telegram API")
    assert "Traceback" not in result.output


def _campaign(*args: str) -> int:
    result = runner.invoke(app, ["campaign", "create", "--flow", "satisfaction", *args])
    assert result.exit_code == 0, result.output
    return int(result.output.strip().splitlines()[-1])


def _code(output: str) -> str:
    url = urlparse(output.strip())
    assert url.netloc == "t.me" and url.path == "/engage_test_bot"
    return parse_qs(url.query)["start"][0]


def test_link_prints_a_working_deep_link(api: FakeTelegramAPI) -> None:
    campaign = _campaign("--cutoff", "2099-01-01T00:00")
    result = runner.invoke(app, ["telegram", "link", "--campaign", str(campaign), "--days", "3"],
                           terminal_width=40)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1  # one unwrapped line, even on a narrow terminal
    link = read_code(get_settings().secret_bytes(), _code(result.stdout), now=datetime.now(UTC))
    assert link is not None and (link.kind, link.target_id) == ("campaign", campaign)
    assert link.expires_at - datetime.now(UTC) < timedelta(days=3, minutes=1)


def test_link_refuses_ids_that_do_not_exist(api: FakeTelegramAPI) -> None:
    for kind in ("campaign", "session"):
        result = runner.invoke(app, ["telegram", "link", f"--{kind}", "12"])
        assert result.exit_code == 1
        what = "dialogue session" if kind == "session" else kind
        assert result.output.startswith(f"error: no {what} 12")
    assert api.calls_to("getMe") == []


def test_link_refuses_a_cancelled_campaign(api: FakeTelegramAPI) -> None:
    campaign = _campaign()
    assert runner.invoke(app, ["campaign", "cancel", str(campaign)]).exit_code == 0
    result = runner.invoke(app, ["telegram", "link", "--campaign", str(campaign)])
    assert result.exit_code == 1 and "cancelled" in result.output


def test_link_without_cutoff_warns_and_link_ends_at_cutoff(api: FakeTelegramAPI) -> None:
    plain = _campaign()
    result = runner.invoke(app, ["telegram", "link", "--campaign", str(plain)])
    assert result.exit_code == 0
    assert "no cutoff" in result.stderr and "no cutoff" not in result.stdout
    cutoff = datetime.now(UTC) + timedelta(days=2)
    soon = _campaign("--cutoff", cutoff.isoformat())
    result = runner.invoke(app, ["telegram", "link", "--campaign", str(soon), "--days", "30"])
    assert result.exit_code == 0 and "expires with the campaign" in result.stderr
    link = read_code(get_settings().secret_bytes(), _code(result.stdout), now=datetime.now(UTC))
    assert link is not None and abs((link.expires_at - cutoff).total_seconds()) < 2


def test_link_needs_exactly_one_target(api: FakeTelegramAPI) -> None:
    result = runner.invoke(app, ["telegram", "link"])
    assert result.exit_code == 1 and "exactly one" in result.output


def test_commands_need_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["telegram", "set-webhook"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "TELEGRAM_BOT_TOKEN" in result.output
