"""The landing page: ``/console/`` sends each role to its start page; the overview itself."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlmodel import Session

from engage.accounts.roles import Permission
from engage.analytics.report import line_chart
from engage.scheduling.campaigns import campaign_progress, list_campaigns
from engage.scheduling.dialogue import format_when, list_sessions
from engage.web.console.figures import FigureCache, overview
from engage.web.console.guard import Viewer, need
from engage.web.console.render import render

router = APIRouter(prefix="/console")
RUNNING = ("scheduled", "running", "paused")


def figure_cache(request: Request) -> FigureCache:
    """The app's figure cache (one per process, made on first use)."""
    state = request.app.state
    cache: FigureCache | None = getattr(state, "console_figures", None)
    if cache is None:
        cache = state.console_figures = FigureCache(state.engine)
    return cache


@router.get("/")
def home(viewer: Viewer = Depends(need(None))) -> Response:
    """Staff and admins start at the overview, mediators at their sessions."""
    target = "/console/overview" if viewer.can(Permission.SUMMARIES) else "/console/sessions"
    return RedirectResponse(target, status_code=303)


@router.get("/overview")
def overview_page(request: Request,
                  viewer: Viewer = Depends(need(Permission.SUMMARIES))) -> Response:
    settings = request.app.state.settings
    now = datetime.now(UTC)
    figures = overview(figure_cache(request), settings, now)
    with Session(request.app.state.engine) as db:
        campaigns = [c for c in list_campaigns(session=db) if c.status in RUNNING]
        progress = {c.id: campaign_progress(session=db, campaign_id=int(c.id or 0))
                    for c in campaigns}
        upcoming = [(s, format_when(s)) for s in list_sessions(session=db)
                    if s.status == "scheduled" and s.ends_at >= now][:10]
    reached = sum(p.reached for p in progress.values())
    opted_out = sum(p.count("opted_out") for p in progress.values())
    return render(request, "overview.html", viewer=viewer, f=figures,
                  chart=Markup(line_chart(figures.trend)),  # noqa: S704 - escapes its text
                  campaigns=campaigns, progress=progress, upcoming=upcoming,
                  opt_out_rate=(opted_out / reached) if reached else None, reached=reached)
