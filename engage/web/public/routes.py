"""``/public/`` (English) and ``/public/es/`` (Spanish): the public report, live.

Figures come from ``summarize`` and ``trend``, exactly as ``engage report`` builds the static
page (same suppression, same charts), and are cached by data version like the console's. The
"where neighbours agree" section (finished conversations only) shares that cache: the analysis
is not run on every request.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from engage.analytics.metrics import ALL
from engage.analytics.periods import period_containing
from engage.analytics.report import TREND_POINTS, bar_chart, line_chart
from engage.deliberation.public_section import public_consensus
from engage.web.console.figures import summary_for, total_row, trend_for
from engage.web.console.overview import figure_cache
from engage.web.console.render import env
from engage.web.public.texts import TEXTS

router = APIRouter(prefix="/public")


def _page(request: Request, lang: str) -> Response:
    state = request.app.state
    settings = state.settings
    cache = figure_cache(request)
    now = datetime.now(UTC)
    period = period_containing(now, "quarter", settings.timezone)
    summary = summary_for(cache, settings, period, ("district",))
    points = trend_for(cache, settings, period, TREND_POINTS[period.kind])
    districts = [r for r in summary.rows if r.key[0][1] != ALL]
    html = env.get_template("public.html").render(
        t=TEXTS[lang], lang=lang, period=period.label, total=total_row(summary),
        districts=districts, k=settings.min_cell_size, program=settings.program_name,
        contact=settings.contact, generated=now.strftime("%Y-%m-%d %H:%M UTC"),
        bars=Markup(bar_chart(districts, settings.min_cell_size)),  # noqa: S704 - escaped
        line=Markup(line_chart(points)),  # noqa: S704 - escapes its text itself
        agreed=cache.get(("public-deliberation", lang), lambda: public_consensus(
            state.engine, min_cell=settings.min_cell_size, now=now, lang=lang)))
    return HTMLResponse(html, headers={"cache-control": "public, max-age=300"})


@router.get("/")
def public_en(request: Request) -> Response:
    return _page(request, "en")


@router.get("/es/")
def public_es(request: Request) -> Response:
    return _page(request, "es")
