"""The staff and mediator console (``/console/``) and the public page (``/public/``).

``install(app)`` adds the session/security-header middleware, the static files, every page's
router and the handlers that turn access errors into pages (login redirect, 403, 404).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from engage.web.console.cookies import SessionCodec
from engage.web.console.guard import (
    CsrfFailed,
    Forbidden,
    LoginRequired,
    NotFound,
    Viewer,
    login_url,
    secure_cookies,
)
from engage.web.console.middleware import ConsoleMiddleware
from engage.web.console.render import STATIC, render


def _routers() -> list[APIRouter]:
    from engage.web.console import (
        audit_pages,
        auth_routes,
        campaign_pages,
        deliberation_pages,
        flow_pages,
        overview,
        session_pages,
        summary_pages,
        user_pages,
    )
    from engage.web.public import routes as public_routes

    return [auth_routes.router, overview.router, campaign_pages.router, session_pages.router,
            summary_pages.router, flow_pages.router, audit_pages.router, user_pages.router,
            deliberation_pages.router, public_routes.router]


def _viewer_or_none(request: Request) -> Viewer | None:
    from engage.web.console.guard import current_viewer

    try:
        return current_viewer(request)
    except LoginRequired:
        return None


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if request.headers.get("hx-request"):  # htmx: send the whole page to the login
        return Response(status_code=204, headers={"hx-redirect": login_url(exc.next_path)})
    return RedirectResponse(login_url(exc.next_path), status_code=302)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return render(request, "message.html", viewer=_viewer_or_none(request),
                  heading="Not allowed", status=403,
                  text="Your role does not give access to this page. Ask an admin if you "
                       "need it.", link="/console/", link_label="Back to the console")


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "message.html", viewer=_viewer_or_none(request),
                  heading="Not found", status=404,
                  text="There is nothing here, or it is not yours to see.",
                  link="/console/", link_label="Back to the console")


async def _csrf_failed(request: Request, exc: Exception) -> Response:
    return render(request, "message.html", viewer=None, heading="Please try again", status=403,
                  text="This form was out of date (it may have been open from before you "
                       "logged in). Go back, reload the page and send it again.",
                  link="/console/", link_label="Back to the console")


def install(app: FastAPI) -> None:
    """Add the console and the public page to ``app``."""
    settings = app.state.settings
    codec = SessionCodec(settings.secret_bytes())
    app.add_middleware(ConsoleMiddleware, codec=codec, secure=secure_cookies(settings))
    app.mount("/console/static", StaticFiles(directory=str(STATIC)), name="console-static")
    for router in _routers():
        app.include_router(router)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(CsrfFailed, _csrf_failed)
