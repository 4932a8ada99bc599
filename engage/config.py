"""Every setting engage reads, from environment variables or `.env`.

Nothing else in the package reads ``os.environ``: one place to look, one place to validate.
"""

from __future__ import annotations

import os
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
    """The public contract of settings (see docs/CONTRACT.md). Names are stable."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    env: Literal["development", "production", "test"] = Field(
        default="development", alias="ENGAGE_ENV"
    )
    data_dir: Path = Field(default=Path("./var"), alias="ENGAGE_DATA_DIR")
    database_url: str | None = Field(default=None, alias="ENGAGE_DATABASE_URL")
    secret_key: str | None = Field(default=None, alias="ENGAGE_SECRET_KEY")
    public_url: str = Field(default="http://127.0.0.1:8000", alias="ENGAGE_PUBLIC_URL")
    timezone: str = Field(default="America/New_York", alias="ENGAGE_TIMEZONE")
    quiet_hours: str = Field(default="21:00-08:00", alias="ENGAGE_QUIET_HOURS")
    min_cell_size: int = Field(default=10, alias="ENGAGE_MIN_CELL_SIZE", ge=1)
    retention_days: int = Field(default=90, alias="ENGAGE_RETENTION_DAYS", ge=1)
    default_flow: str = Field(default="satisfaction", alias="ENGAGE_DEFAULT_FLOW")
    flows_dir: Path = Field(default=DEFAULT_FLOWS_DIR, alias="ENGAGE_FLOWS_DIR")
    program_name: str = Field(default="engage", alias="ENGAGE_PROGRAM_NAME")
    contact: str = Field(default="311 or engage@city.example", alias="ENGAGE_CONTACT")
    dp_epsilon: float | None = Field(default=None, alias="ENGAGE_DP_EPSILON")

    twilio_account_sid: str | None = Field(default=None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(default=None, alias="TWILIO_AUTH_TOKEN")
    twilio_from_number: str | None = Field(default=None, alias="TWILIO_FROM_NUMBER")
    twilio_messaging_service_sid: str | None = Field(
        default=None, alias="TWILIO_MESSAGING_SERVICE_SID"
    )
    twilio_api_url: str = Field(default="https://api.twilio.com", alias="ENGAGE_TWILIO_API_URL")
    sms_rate_per_second: float | None = Field(default=None, alias="ENGAGE_SMS_RATE")

    telegram_bot_token: str | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_secret: str | None = Field(default=None, alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_api_url: str = Field(
        default="https://api.telegram.org", alias="ENGAGE_TELEGRAM_API_URL"
    )

    api_rate_per_minute: int = Field(default=120, alias="ENGAGE_API_RATE_LIMIT", ge=1)

    run_scheduler_in_process: bool = Field(default=True, alias="ENGAGE_INPROCESS_SCHEDULER")
    # /metrics: unset serves loopback clients only; set, it requires "Authorization: Bearer ..."
    metrics_token: str | None = Field(default=None, alias="ENGAGE_METRICS_TOKEN")

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: str | None) -> str | None:
        """Telegram accepts 1-256 characters A-Z a-z 0-9 _ - as ``secret_token``; any other
        secret would make setWebhook fail, or every update be refused, far from its cause."""
        if not value:
            return None  # an empty line in .env means unset
        if not _WEBHOOK_SECRET.fullmatch(value):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters from "
                             f"A-Z a-z 0-9 _ - (got {len(value)} characters"
                             f"{', some of them others' if len(value) <= 256 else ''})")
        return value

    # Delivery (docs/OPERATIONS.md, "Delivery guarantees"). A reply is retried through provider
    # outages until it is this old, then dropped with a recorded reason (it would make no sense
    # any more); campaign, reminder and invitation messages are retried for the retry window.
    reply_max_age_seconds: int = Field(default=3600, alias="ENGAGE_REPLY_MAX_AGE", ge=60)
    retry_window_seconds: int = Field(default=86400, alias="ENGAGE_RETRY_WINDOW", ge=60)
    retry_backoff_cap_seconds: float = Field(
        default=300.0, alias="ENGAGE_RETRY_BACKOFF_CAP", gt=0
    )
    # On SIGTERM, sends already on the network get this long to finish (then they are left
    # "in doubt" and looked up before any resend); keep it below the stop timeout minus 3 s.
    shutdown_drain_seconds: float = Field(
        default=4.0, alias="ENGAGE_SHUTDOWN_DRAIN", ge=0, le=30
    )
    # How long a worker's claim lasts: after a crash its rows wait this long, then go back to
    # pending. Keep it well above ENGAGE_TWILIO_TIMEOUT (a live worker must never lose it).
    outbox_lease_seconds: float = Field(default=60.0, alias="ENGAGE_OUTBOX_LEASE", ge=2)
    twilio_timeout_seconds: float = Field(default=10.0, alias="ENGAGE_TWILIO_TIMEOUT", gt=0)

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
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:  # created owner-only, never readable by others even for a moment
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
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
        problems.extend(_weak_secrets(self))
        if not self.public_url.lower().startswith("https://"):
            problems.append("ENGAGE_PUBLIC_URL must be https:// in production (webhooks and "
                            "links carry residents' messages)")
        if not self.database_url:
            problems.append("ENGAGE_DATABASE_URL is not set")
        if self.telegram_bot_token and not self.telegram_webhook_secret:
            problems.append("TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_BOT_TOKEN")
        if not self.twilio_enabled and not self.telegram_bot_token:
            problems.append("no channel configured (TWILIO_* or TELEGRAM_BOT_TOKEN)")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


def _weak_secrets(settings: Settings) -> list[str]:
    """Published or guessable values of the secrets that protect residents' data."""
    from engage import secret_strength

    named = {"ENGAGE_SECRET_KEY": settings.secret_key,
             "TELEGRAM_WEBHOOK_SECRET": settings.telegram_webhook_secret,
             "ENGAGE_METRICS_TOKEN": settings.metrics_token}
    found = (secret_strength.problem(name, value) for name, value in named.items() if value)
    return [problem for problem in found if problem]


_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
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
