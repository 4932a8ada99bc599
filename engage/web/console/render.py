"""Rendering pages: one Jinja2 environment with autoescaping always on.

Autoescape is forced for every template (not chosen by file name), so resident free text,
campaign names and flow text are always shown as text, never as markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from engage.accounts.roles import Permission
from engage.web.console.guard import CSRF_FIELD, Viewer, console_session

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# (label, path, permission): the navigation a viewer sees is what they may open.
NAV: tuple[tuple[str, str, Permission], ...] = (
    ("Overview", "/console/", Permission.SUMMARIES),
    ("Campaigns", "/console/campaigns", Permission.CAMPAIGNS),
    ("Sessions", "/console/sessions", Permission.SESSIONS_OWN),
    ("Summaries", "/console/summaries", Permission.SUMMARIES),
    ("Deliberation", "/console/deliberation", Permission.DELIBERATION_OWN),
    ("Flows", "/console/flows", Permission.FLOWS_READ),
    ("Audit", "/console/audit", Permission.AUDIT_STATUS),
    ("Users", "/console/users", Permission.USERS),
)

env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _num(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


env.filters["num"] = _num
env.filters["pct"] = _pct


def render(request: Request, template: str, *, viewer: Viewer | None = None, status: int = 200,
           **context: Any) -> HTMLResponse:
    """The page ``template`` with the layout's context (viewer, CSRF token, navigation)."""
    session = console_session(request) if "console_session" in request.scope.get(
        "state", {}) else None
    nav = [(label, path) for label, path, perm in NAV if viewer is not None and viewer.can(perm)]
    html = env.get_template(template).render(
        request_path=request.url.path, viewer=viewer, nav=nav,
        csrf_field=CSRF_FIELD, csrf=session.csrf if session else "", **context)
    return HTMLResponse(html, status_code=status)


def fragment(template: str, **context: Any) -> HTMLResponse:
    """A piece of a page (htmx swaps it in): no layout."""
    return HTMLResponse(env.get_template(template).render(**context))
