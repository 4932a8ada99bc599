"""``GET /v1/summary`` (staff) and ``GET /v1/public/summary`` (anyone).

The table is the one ``engage export summary --format json`` writes, built by the same
functions (``summarize`` through its cache, ``method_note``, ``summary_document`` which
``render_json`` indents, ``render_csv``), and each staff download is audited as
``export.summary`` exactly like the CLI's. JSON is served compact.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from engage.accounts.roles import Permission
from engage.analytics.exports import method_note, record_export, render_csv, summary_document
from engage.analytics.exports import sha256_hex as digest_of
from engage.analytics.metrics import parse_dimensions
from engage.analytics.periods import Period, parse_period, period_containing, recent_periods
from engage.analytics.report import TREND_POINTS
from engage.analytics.summary_cache import cached_summarize
from engage.errors import UserError
from engage.web.api.common import engine_of, settings_of, wants
from engage.web.api.problems import invalid
from engage.web.api.security import AnonymousDep, CallerDep, clock_now, permissions

router = APIRouter(tags=["summaries"])
PERIOD_PATTERN = r"^\d{4}(-?Q[1-4]|-(0[1-9]|1[0-2]))$"
_DIM = (r"(district|neighbourhood|neighborhood|area|age_band|age|race_ethnicity|race|"
        r"contact_type|incident_type)")
BY_PATTERN = rf"^{_DIM}(,{_DIM}){{0,2}}$"

PeriodQuery = Annotated[str | None, Query(
    pattern=PERIOD_PATTERN, description="A quarter (2026Q3) or a month (2026-07); default: "
    "the current quarter in ENGAGE_TIMEZONE", examples=["2026Q3"])]


class SummaryDocument(BaseModel):
    """The summary table: the document ``engage export summary --format json`` writes."""

    method: dict[str, str] = Field(description="The method note: what, how, suppression")
    period: str
    dimensions: list[str]
    min_cell_size: int
    columns: list[str]
    rows: list[dict[str, str | float | int | None]] = Field(
        description="One row per cell and margin ('all'); withheld cells have status "
        "'withheld', a reason ('small' or 'complementary') and no figures")


class TrendPoint(BaseModel):
    period: str
    published: bool
    respondents: int | None
    trust_index: float | None
    trust_index_low: float | None
    trust_index_high: float | None
    safety_index: float | None
    safety_index_low: float | None
    safety_index_high: float | None


class PublicSummary(BaseModel):
    """The public page's figures: the table by district and the citywide trend."""

    period: str
    summary: SummaryDocument
    trend: list[TrendPoint]


def _period(request: Request, text: str | None) -> Period:
    settings = settings_of(request)
    if text is None:
        return period_containing(clock_now(request), "quarter", settings.timezone)
    try:
        return parse_period(text, settings.timezone)
    except (UserError, ValueError) as exc:
        raise invalid("query.period", str(exc)) from None


def _summary(request: Request, period: Period, dims: tuple[str, ...]) -> Any:
    settings = settings_of(request)
    return cached_summarize(engine_of(request), period, dims,
                            min_cell_size=settings.min_cell_size,
                            dp_epsilon=settings.dp_epsilon)


@router.get(
    "/v1/summary", response_model=SummaryDocument, openapi_extra=permissions(Permission.SUMMARIES),
    summary="The anonymized summary table",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                     "description": "JSON, or CSV with the method note as # lines when the "
                     "Accept header prefers text/csv"}},
)
def get_summary(
    request: Request,
    caller: CallerDep,
    period: PeriodQuery = None,
    by: Annotated[str, Query(pattern=BY_PATTERN, description="Comma-separated: district or "
                             "neighbourhood, age_band, race_ethnicity, contact_type")
                  ] = "district",
) -> Response:
    """Respondents, indices, Likert distributions and sentiment shares with 95% intervals,
    small cells withheld (with complementary suppression). Audited as a download."""
    try:
        dims = parse_dimensions(by)
    except UserError as exc:
        raise invalid("query.by", str(exc)) from None
    parsed = _period(request, period)
    summary = _summary(request, parsed, dims)
    settings = settings_of(request)
    now = clock_now(request)
    note = method_note(summary, now, settings.timezone)
    csv = wants(request, "text/csv")
    data = (render_csv(summary, note) if csv else json.dumps(
        summary_document(summary, note), ensure_ascii=False, separators=(",", ":")).encode())
    record_export(engine_of(request), action="export.summary", subject="api", details={
        "period": parsed.label, "by": list(dims), "format": "csv" if csv else "json",
        "sha256": digest_of(data), "rows": len(summary.rows),
        "withheld": sum(1 for r in summary.rows if not r.published),
        "min_cell_size": settings.min_cell_size, "dp_epsilon": settings.dp_epsilon,
    }, now=now, actor=caller.actor)
    media = "text/csv; charset=utf-8" if csv else "application/json"
    return Response(content=data, media_type=media)


@router.get("/v1/public/summary", response_model=PublicSummary, openapi_extra=permissions(),
            summary="The public page's figures (no token)")
def get_public_summary(request: Request, _: AnonymousDep,
                       period: PeriodQuery = None) -> Response:
    """What the public report shows: the summary by district and the citywide trend (each
    point the citywide row of that period's summary, as ``metrics.trend`` picks it), with the
    same suppression. Open to anyone, rate-limited per client address."""

    settings = settings_of(request)
    parsed = _period(request, period)
    summary = _summary(request, parsed, ("district",))
    now = clock_now(request)
    document = summary_document(summary, method_note(summary, now, settings.timezone))
    points: list[TrendPoint] = []
    for earlier in recent_periods(parsed, TREND_POINTS[parsed.kind], settings.timezone):
        total = _summary(request, earlier, ()).total()
        f = total.figures
        respondents = f.get("respondents")
        points.append(TrendPoint(
            period=earlier.label, published=total.published,
            respondents=int(respondents) if respondents is not None else None,
            **{c: f.get(c) for c in TrendPoint.model_fields if c.startswith(("trust", "safety"))}))
    body = PublicSummary(period=parsed.label, summary=SummaryDocument(**document), trend=points)
    return Response(content=body.model_dump_json(), media_type="application/json",
                    headers={"Cache-Control": "public, max-age=60"})
