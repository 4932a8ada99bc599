"""Every setting engage reads, from environment variables or `.env`.

Nothing else in the package reads ``os.environ``: one place to look, one place to validate.
"""

from __future__ import annotations

import re
import secrets
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_KEY_FILE = "dev-secret.key"
# Signs Twilio webhooks when TWILIO_AUTH_TOKEN is unset (development/test only), so `engage chat`
# can sign exactly as Twilio would and the server checks signatures the same way in every mode.
DEV_TWILIO_AUTH_TOKEN = "engage-development-twilio-token"
PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_FLOWS_DIR = PACKAGE_ROOT.parent / "flows"


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    """The public contract of settings (see DESIGN.md). Names are stable."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    env: Literal["development", "production", "test"] = Field(
        "development", alias="ENGAGE_ENV"
    )
    data_dir: Path = Field(Path("./var"), alias="ENGAGE_DATA_DIR")
    database_url: str | None = Field(None, alias="ENGAGE_DATABASE_URL")
    secret_key: str | None = Field(None, alias="ENGAGE_SECRET_KEY")
    public_url: str = Field("http://127.0.0.1:8000", alias="ENGAGE_PUBLIC_URL")
    timezone: str = Field("America/New_York", alias="ENGAGE_TIMEZONE")
    quiet_hours: str = Field("21:00-08:00", alias="ENGAGE_QUIET_HOURS")
    min_cell_size: int = Field(10, alias="ENGAGE_MIN_CELL_SIZE", ge=1)
    retention_days: int = Field(90, alias="ENGAGE_RETENTION_DAYS", ge=1)
    default_flow: str = Field("satisfaction", alias="ENGAGE_DEFAULT_FLOW")
    flows_dir: Path = Field(DEFAULT_FLOWS_DIR, alias="ENGAGE_FLOWS_DIR")
    program_name: str = Field("engage", alias="ENGAGE_PROGRAM_NAME")
    contact: str = Field("311 or engage@city.example", alias="ENGAGE_CONTACT")
    dp_epsilon: float | None = Field(None, alias="ENGAGE_DP_EPSILON")

    twilio_account_sid: str | None = Field(None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    twilio_from_number: str | None = Field(None, alias="TWILIO_FROM_NUMBER")
    twilio_messaging_service_sid: str | None = Field(None, alias="TWILIO_MESSAGING_SERVICE_SID")
    twilio_api_url: str = Field("https://api.twilio.com", alias="ENGAGE_TWILIO_API_URL")
    sms_rate_per_second: float | None = Field(None, alias="ENGAGE_SMS_RATE")

    telegram_bot_token: str | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_secret: str | None = Field(None, alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_api_url: str = Field("https://api.telegram.org", alias="ENGAGE_TELEGRAM_API_URL")

    api_rate_per_minute: int = Field(120, alias="ENGAGE_API_RATE_LIMIT", ge=1)

    run_scheduler_in_process: bool = Field(True, alias="ENGAGE_INPROCESS_SCHEDULER")

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value

    # -- derived values -------------------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'engage.sqlite3').resolve()}"

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def twilio_webhook_token(self) -> str | None:
        """The token Twilio webhooks are signed with: TWILIO_AUTH_TOKEN, else (outside
        production) ``DEV_TWILIO_AUTH_TOKEN``; None in production without Twilio (refuse all)."""
        if self.twilio_auth_token:
            return self.twilio_auth_token
        return None if self.env == "production" else DEV_TWILIO_AUTH_TOKEN

    @property
    def quiet_window(self) -> tuple[time, time]:
        return parse_quiet_hours(self.quiet_hours)

    @property
    def sms_rate(self) -> float:
        """Messages per second per sender: 1/s for a long code, more for a Messaging Service."""
        if self.sms_rate_per_second is not None:
            return self.sms_rate_per_second
        return 10.0 if self.twilio_messaging_service_sid else 1.0

    def secret_bytes(self) -> bytes:
        """The HMAC/encryption secret; in development it is generated once into the data dir."""
        if self.secret_key:
            return self.secret_key.encode()
        if self.env == "production":
            raise ConfigError("ENGAGE_SECRET_KEY is required when ENGAGE_ENV=production")
        path = self.data_dir / DEV_KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()

    def check_production(self) -> None:
        """Refuse to run production with missing secrets or a development key."""
        if self.env != "production":
            return
        problems = []
        if not self.secret_key:
            problems.append("ENGAGE_SECRET_KEY is not set")
        elif len(self.secret_key) < 32 or self.secret_key.startswith("dev"):
            problems.append("ENGAGE_SECRET_KEY looks like a development key (use 32+ random chars)")
        if not self.database_url:
            problems.append("ENGAGE_DATABASE_URL is not set")
        if self.telegram_bot_token and not self.telegram_webhook_secret:
            problems.append("TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_BOT_TOKEN")
        if not self.twilio_enabled and not self.telegram_bot_token:
            problems.append("no channel configured (TWILIO_* or TELEGRAM_BOT_TOKEN)")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_quiet_hours(value: str) -> tuple[time, time]:
    """Parse "21:00-08:00" into (start, end); the window may wrap past midnight."""
    match = _QUIET.match(value)
    if not match:
        raise ValueError(f"ENGAGE_QUIET_HOURS must look like 21:00-08:00, got {value!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"ENGAGE_QUIET_HOURS has an impossible time: {value!r}")
    return time(h1, m1), time(h2, m2)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
