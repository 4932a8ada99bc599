"""Structured logging that never carries addresses or message bodies.

Call sites log participant keys (shortened) and message/outbox ids as ``key=value`` fields:
``log_event(log, "inbound.handled", participant=key, message_id=12)``. As defence in depth,
``configure()`` installs a filter that scrubs anything that looks like a phone number, email,
URL or street address from every record before it is written, whoever logged it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

SAFE_FIELDS = frozenset({
    "participant", "message_id", "outbox_id", "run_id", "flow", "status", "kind", "channel",
    "keyword", "outcome", "count", "events", "campaign_id", "session_id", "seq", "elapsed_ms",
    "error", "provider_id", "flow_version_id", "source",
})


def short_key(key: str | None) -> str | None:
    """A participant key shortened for logs (still a pseudonym, shorter to read)."""
    return key[:16] if key else key


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` with whitelisted fields only; unknown field names are dropped, so a body
    or an address passed by mistake never reaches a handler."""
    if not logger.isEnabledFor(level):
        return
    safe = {k: v for k, v in fields.items() if k in SAFE_FIELDS}
    if "participant" in safe:
        safe["participant"] = short_key(str(safe["participant"]))
    logger.log(level, event, extra={"engage_fields": safe})


class ScrubFilter(logging.Filter):
    """Rewrites each record's message through ``privacy.scrub`` (phones, emails, addresses)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from engage.privacy import scrub

        if getattr(record, "engage_verbatim", False):  # engage's own digests, nothing else
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event and the safe fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(getattr(record, "engage_fields", {}) or {})
        if record.exc_info and record.exc_info[0] is not None:
            payload["exception"] = record.exc_info[0].__name__
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure(level: int | str = logging.INFO, *, json_lines: bool = True) -> None:
    """Set up the ``engage`` logger once: scrubbed, structured, to stderr."""
    root = logging.getLogger("engage")
    for handler in list(root.handlers):
        if getattr(handler, "_engage", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._engage = True  # type: ignore[attr-defined]
    handler.addFilter(ScrubFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
