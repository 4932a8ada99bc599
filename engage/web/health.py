"""``/healthz`` (the process answers), ``/readyz`` (the database answers) and ``/metrics``.

Counters live per app in ``app.state.metrics`` (a tiny thread-safe registry: no extra
dependency); outbound counters come from the in-process dispatcher, and the outbox backlog is
read from the database at scrape time so it is right across processes.
"""

from __future__ import annotations

import hmac
import threading
from collections import Counter

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from engage.web.loopback import is_local_request

router = APIRouter()

_HELP = {
    "engage_inbound_total": "Inbound messages accepted by a webhook, by channel and outcome.",
    "engage_webhook_rejected_total": "Webhook requests refused, by reason.",
    "engage_status_callbacks_total": "Delivery status callbacks, by status and effect.",
    "engage_outbound_sent_total": "Outbox rows sent by this process's dispatcher.",
    "engage_outbound_failed_total": "Outbox rows that failed permanently in this process.",
    "engage_outbound_retried_total": "Transient send failures scheduled for a retry.",
    "engage_outbound_cancelled_total": "Outbox rows cancelled (opted out or erased).",
    "engage_outbound_held_total": "Times a campaign/reminder row was held for quiet hours.",
    "engage_outbound_looked_up_total": "In-doubt rows looked up at the provider before resending.",
    "engage_outbound_found_in_doubt_total": "In-doubt rows found at the provider (not resent).",
    "engage_outbound_released_total": "Claimed rows released unsent (stop, provider pause).",
    "engage_outbound_lease_expired_total": "Claims of a dead worker returned to pending.",
    "engage_outbox_rows": "Outbox rows by status (from the database).",
}
_DISPATCH_COUNTERS = {
    "sent": "engage_outbound_sent_total",
    "failed": "engage_outbound_failed_total",
    "retried": "engage_outbound_retried_total",
    "cancelled": "engage_outbound_cancelled_total",
    "held": "engage_outbound_held_total",
    "looked_up": "engage_outbound_looked_up_total",
    "found_in_doubt": "engage_outbound_found_in_doubt_total",
    "released": "engage_outbound_released_total",
    "lease_expired": "engage_outbound_lease_expired_total",
}


class Metrics:
    """Labelled counters: ``inc("engage_inbound_total", channel="sms", outcome="handled")``."""

    def __init__(self) -> None:
        self._values: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._lock = threading.Lock()

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] += amount

    def value(self, name: str, **labels: str) -> int:
        with self._lock:
            return self._values[(name, tuple(sorted(labels.items())))]

    def samples(self) -> list[tuple[str, tuple[tuple[str, str], ...], int]]:
        with self._lock:
            return sorted((n, labels, v) for (n, labels), v in self._values.items())


def render(samples: list[tuple[str, tuple[tuple[str, str], ...], float]]) -> str:
    """Prometheus text exposition format 0.0.4."""
    lines: list[str] = []
    seen: set[str] = set()
    for name, labels, value in samples:
        if name not in seen:
            seen.add(name)
            kind = "gauge" if name == "engage_outbox_rows" else "counter"
            lines.append(f"# HELP {name} {_HELP.get(name, name)}")
            lines.append(f"# TYPE {name} {kind}")
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _ping(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    try:
        await run_in_threadpool(_ping, request.app.state.engine)
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__},
                            status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


def _outbox_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
        return {str(status): int(count) for status, count in rows}


def metrics_refusal(request: Request) -> PlainTextResponse | None:
    """None when this request may read /metrics: with ``ENGAGE_METRICS_TOKEN`` set, the one
    that presents it as a bearer token; unset, only a local request (not via a proxy)."""
    token: str | None = request.app.state.settings.metrics_token
    if token:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(),
                                                              token.encode()):
            return None
        return PlainTextResponse("metrics need Authorization: Bearer <ENGAGE_METRICS_TOKEN>",
                                 status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if is_local_request(request):
        return None
    return PlainTextResponse("metrics are served to loopback only; set ENGAGE_METRICS_TOKEN "
                             "to scrape from elsewhere", status_code=403)


@router.get("/metrics")
async def metrics(request: Request) -> PlainTextResponse:
    refusal = metrics_refusal(request)
    if refusal is not None:
        return refusal
    registry: Metrics = request.app.state.metrics
    samples: list[tuple[str, tuple[tuple[str, str], ...], float]] = list(registry.samples())
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is not None:
        for key, name in _DISPATCH_COUNTERS.items():
            samples.append((name, (), dispatcher.stats.get(key, 0)))
    try:
        counts = await run_in_threadpool(_outbox_counts, request.app.state.engine)
    except Exception:
        counts = {}
    for status, count in sorted(counts.items()):
        samples.append(("engage_outbox_rows", (("status", status),), count))
    samples.sort(key=lambda s: (s[0], s[1]))
    return PlainTextResponse(render(samples), media_type="text/plain; version=0.0.4")
