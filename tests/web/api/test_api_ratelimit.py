"""The per-token (and, anonymous, per-address) rate limit: 429 with Retry-After."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from engage.config import Settings
from engage.web.api.security import RateLimiter
from tests.web.api.conftest import Account


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_rate_per_minute": 3})


def test_rate_limit_per_token_answers_429_with_retry_after(
        client: TestClient, accounts: dict[str, Account]) -> None:
    staff, admin = accounts["staff"], accounts["admin"]
    for _ in range(3):
        assert client.get("/api/v1/flows", headers=staff.headers).status_code == 200
    limited = client.get("/api/v1/flows", headers=staff.headers)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "rate limit of 3 requests a minute" in limited.json()["detail"]
    assert client.get("/api/v1/flows", headers=admin.headers).status_code == 200  # per token
    for _ in range(3):
        client.get("/api/v1/public/summary")
    assert client.get("/api/v1/public/summary").status_code == 429


def test_token_bucket_refills() -> None:
    limiter = RateLimiter(60)
    assert all(limiter.retry_after("k", now=0.0) is None for _ in range(60))
    assert limiter.retry_after("k", now=0.0) == 1
    assert limiter.retry_after("k", now=1.0) is None


def test_guessing_tokens_is_throttled_per_address(client: TestClient) -> None:
    wrong = {"Authorization": "Bearer eng_guess"}
    assert [client.get("/api/v1/flows", headers=wrong).status_code for _ in range(4)] == [
        401, 401, 401, 429]
