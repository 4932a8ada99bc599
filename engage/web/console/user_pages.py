"""Users (admins only): list, invite (the one-time setup link is shown once), disable,
enable, reset. Account rules live in ``engage.accounts.service`` (the `engage users` CLI's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session

from engage.accounts import service
from engage.accounts.errors import AccountError
from engage.accounts.roles import Permission
from engage.storage.db import session_scope
from engage.web.console.choices import area_choices, known_areas
from engage.web.console.guard import NotFound, Viewer, checked_form, need
from engage.web.console.render import render

router = APIRouter(prefix="/console/users")
CAN = Depends(need(Permission.USERS))
ROLES = ("mediator", "staff", "admin")


def _page(request: Request, viewer: Viewer, *, link: str | None = None,
          error: str | None = None, flash: str | None = None,
          values: dict[str, Any] | None = None) -> Response:
    settings = request.app.state.settings
    with Session(request.app.state.engine) as db:
        users = service.list_users(session=db)
    areas = area_choices(settings.flows_dir)
    return render(request, "users.html", viewer=viewer, users=users, roles=ROLES,
                  areas=(*areas.districts, *areas.neighbourhoods), link=link, error=error,
                  flash=flash, v=values or {}, status=400 if error else 200)


@router.get("")
def list_page(request: Request, viewer: Viewer = CAN) -> Response:
    return _page(request, viewer)


@router.post("/add")
async def add(request: Request, viewer: Viewer = CAN) -> Response:
    form = await checked_form(request)
    settings = request.app.state.settings
    email, role = str(form.get("email") or ""), str(form.get("role") or "")
    chosen = [str(a) for a in form.getlist("areas") if str(a).strip()]
    now = datetime.now(UTC)
    try:
        areas = known_areas(settings.flows_dir).resolve(chosen)
        with session_scope(request.app.state.engine) as db:
            user = service.create_user(session=db, email=email, role=role, areas=areas,
                                       now=now, actor=viewer.actor)
            raw = service.issue_setup_link(session=db, user=user, now=now, actor=viewer.actor)
    except (AccountError, ValueError) as exc:
        return _page(request, viewer, error=str(exc).capitalize() + ".",
                     values={"email": email, "role": role, "areas": chosen})
    return _page(request, viewer, link=service.setup_url(settings.public_url, raw),
                 flash=f"Account created for {email.strip().lower()}. Send them this link "
                       "(valid 24 hours, shown only now).")


@router.post("/{user_id}/{action}")
async def act(request: Request, user_id: int, action: str, viewer: Viewer = CAN) -> Response:
    await checked_form(request)
    if action not in ("disable", "enable", "reset"):
        raise NotFound("action")
    now = datetime.now(UTC)
    link = None
    try:
        with session_scope(request.app.state.engine) as db:
            user = service.get_user(session=db, user_id=user_id)
            if user is None:
                raise NotFound("user")
            if action in ("disable", "reset") and user.id == viewer.id:
                raise AccountError(f"you cannot {action} your own account here")
            if action == "disable":
                service.disable_user(session=db, user=user, now=now, actor=viewer.actor)
            elif action == "enable":
                service.enable_user(session=db, user=user, now=now, actor=viewer.actor)
            else:
                raw = service.reset_user(session=db, user=user, now=now, actor=viewer.actor,
                                         clear_totp=True)
                link = service.setup_url(request.app.state.settings.public_url, raw)
            email = user.email
    except AccountError as exc:
        return _page(request, viewer, error=str(exc).capitalize() + ".")
    flash = {"disable": f"{email} can no longer log in.", "enable": f"{email} can log in again.",
             "reset": f"{email}'s password was cleared. Send them this link (valid 24 hours)."}
    return _page(request, viewer, link=link, flash=flash[action])
