"""Settings: the public names, parsing, and production refusals."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from engage import secret_strength
from engage.config import ConfigError, Settings, parse_quiet_hours


def make(tmp_path: Path, **env: str) -> Settings:
    return Settings(_env_file=None, ENGAGE_DATA_DIR=str(tmp_path), **env)  # type: ignore[call-arg]


def test_defaults_match_the_public_contract(tmp_path: Path) -> None:
    s = make(tmp_path)
    assert s.env == "development"
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.timezone == "America/New_York"
    assert s.quiet_window == (time(21, 0), time(8, 0))
    assert s.min_cell_size == 10
    assert s.retention_days == 90
    assert s.twilio_api_url == "https://api.twilio.com"
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith("engage.sqlite3")
    assert not s.twilio_enabled


def test_settings_read_documented_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGE_MIN_CELL_SIZE", "25")
    monkeypatch.setenv("ENGAGE_QUIET_HOURS", "22:30-07:15")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "tok")
    monkeypatch.setenv("ENGAGE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.min_cell_size == 25
    assert s.quiet_window == (time(22, 30), time(7, 15))
    assert s.twilio_enabled
    assert s.effective_database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("bad", ["21-08", "25:00-08:00", "21:00_08:00", "", "9pm-8am"])
def test_bad_quiet_hours_are_rejected_with_the_variable_name(bad: str) -> None:
    with pytest.raises(ValueError, match="ENGAGE_QUIET_HOURS"):
        parse_quiet_hours(bad)


def test_development_secret_is_generated_once_and_reused(tmp_path: Path) -> None:
    first = make(tmp_path).secret_bytes()
    second = make(tmp_path).secret_bytes()
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "dev-secret.key").stat().st_mode & 0o077 == 0


def test_production_refuses_missing_secret(tmp_path: Path) -> None:
    s = make(tmp_path, ENGAGE_ENV="production")
    with pytest.raises(ConfigError, match="ENGAGE_SECRET_KEY"):
        s.secret_bytes()
    with pytest.raises(ConfigError, match="ENGAGE_SECRET_KEY is not set"):
        s.check_production()


def test_production_refuses_a_development_looking_key(tmp_path: Path) -> None:
    s = make(
        tmp_path,
        ENGAGE_ENV="production",
        ENGAGE_SECRET_KEY="dev-key",
        ENGAGE_DATABASE_URL="postgresql+psycopg://u@h/db",
        TWILIO_ACCOUNT_SID="AC1",
        TWILIO_AUTH_TOKEN="t",
    )
    with pytest.raises(ConfigError, match="development key"):
        s.check_production()


def test_production_accepts_a_complete_configuration(tmp_path: Path) -> None:
    key = secret_strength.generate()
    s = make(
        tmp_path,
        ENGAGE_ENV="production",
        ENGAGE_SECRET_KEY=key,
        ENGAGE_PUBLIC_URL="https://engage.example.gov",
        ENGAGE_DATABASE_URL="postgresql+psycopg://u@h/db",
        TWILIO_ACCOUNT_SID="AC1",
        TWILIO_AUTH_TOKEN="t",
    )
    s.check_production()
    assert s.secret_bytes() == key.encode()


def _production(tmp_path: Path, **env: str) -> Settings:
    base = {"ENGAGE_ENV": "production", "ENGAGE_SECRET_KEY": secret_strength.generate(),
            "ENGAGE_PUBLIC_URL": "https://engage.example.gov",
            "ENGAGE_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}
    return make(tmp_path, **(base | env))


def _example_secret() -> str:
    example = Path(__file__).resolve().parent.parent / "deploy" / "engage.env.example"
    line = next(x for x in example.read_text().splitlines()
                if x.startswith("ENGAGE_SECRET_KEY="))
    return line.split("=", 1)[1]


@pytest.mark.parametrize("key", [
    pytest.param("a" * 32, id="aaaa"),
    pytest.param("x" * 48, id="xxxx"),
    pytest.param("0123456789abcdef" * 4, id="pattern"),
    pytest.param("password1234password1234password1234", id="repeated-word"),
    pytest.param("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", id="alphabet"),
])
def test_production_refuses_a_guessable_key(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=r"too little entropy.*engage secret generate"):
        _production(tmp_path, ENGAGE_SECRET_KEY=key).check_production()


def test_production_refuses_the_example_placeholder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="published in the engage repository"):
        _production(tmp_path, ENGAGE_SECRET_KEY=_example_secret()).check_production()


def test_production_refuses_a_random_key_found_in_the_repository(tmp_path: Path) -> None:
    published = "avzB0E-nVZ8b0CiHGA3JdT1nDa1BlshzZnAAwnRA-y4"  # random, but written here, so public
    assert secret_strength.published(published)
    with pytest.raises(ConfigError, match="published"):
        _production(tmp_path, ENGAGE_SECRET_KEY=published).check_production()
    # the same check guards the other secrets
    with pytest.raises(ConfigError, match=r"TELEGRAM_WEBHOOK_SECRET .*too little entropy"):
        _production(tmp_path, TELEGRAM_BOT_TOKEN="1:x", TELEGRAM_WEBHOOK_SECRET="secret"
                    ).check_production()


def test_production_refuses_a_plain_http_public_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ENGAGE_PUBLIC_URL must be https://"):
        _production(tmp_path, ENGAGE_PUBLIC_URL="http://engage.example.gov").check_production()


def test_generated_keys_pass_with_a_margin() -> None:
    for _ in range(500):
        assert secret_strength.estimated_bits(secret_strength.generate()) > 160


def test_messaging_service_raises_the_default_send_rate(tmp_path: Path) -> None:
    assert make(tmp_path).sms_rate == 1.0
    assert make(tmp_path, TWILIO_MESSAGING_SERVICE_SID="MG1").sms_rate > 1.0
    assert make(tmp_path, ENGAGE_SMS_RATE="0").sms_rate == 0.0


def test_an_operators_env_file_beside_the_example_is_not_the_repository(tmp_path: Path) -> None:
    """deploy/engage.env holds the real key: finding it there must not refuse it."""
    key = secret_strength.generate()
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "engage.env").write_text(f"ENGAGE_SECRET_KEY={key}\n")
    (tmp_path / ".env").write_text(f"ENGAGE_SECRET_KEY={key}\n")
    assert not secret_strength.published(key, root=tmp_path)
    (tmp_path / "deploy" / "engage.env.example").write_text(f"ENGAGE_SECRET_KEY={key}\n")
    secret_strength._repository_text.cache_clear()
    assert secret_strength.published(key, root=tmp_path)
@pytest.mark.parametrize("secret", ["a", "webhook-secret_0123456789", "x" * 256])
def test_webhook_secret_with_telegrams_characters_is_taken(tmp_path: Path, secret: str) -> None:
    assert make(tmp_path, TELEGRAM_WEBHOOK_SECRET=secret).telegram_webhook_secret == secret


def test_empty_webhook_secret_means_unset(tmp_path: Path) -> None:
    assert make(tmp_path, TELEGRAM_WEBHOOK_SECRET="").telegram_webhook_secret is None


@pytest.mark.parametrize("secret", ["has space", "semi;colon", "ñandú", "x" * 257])
def test_webhook_secret_telegram_would_refuse_is_an_error(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET must be 1-256 characters"):
        make(tmp_path, TELEGRAM_WEBHOOK_SECRET=secret)


def test_invalid_setting_is_one_line_from_the_cli(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "TELEGRAM_WEBHOOK_SECRET": "not allowed!",
           "TELEGRAM_BOT_TOKEN": "123456:x", "ENGAGE_DATA_DIR": str(tmp_path)}
    engage = Path(sys.executable).parent / "engage"
    done = subprocess.run([str(engage), "telegram", "poll"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: TELEGRAM_WEBHOOK_SECRET must be 1-256 characters from A-Z a-z 0-9 _ - "
        "(got 12 characters, some of them others)"]
    assert "not allowed" not in done.stderr  # a secret is never echoed
