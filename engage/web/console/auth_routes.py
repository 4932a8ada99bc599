"""Logging in and out, setting a password from a setup link, and the TOTP second step.

The account rules (Argon2, lockout, one message for every wrong answer, TOTP replay) live in
``engage.accounts.service``; this module only turns them into pages and session changes.
A session is replaced (new id, new CSRF token) whenever who is logged in changes.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from engage.accounts import service
from engage.accounts.errors import AccountError, SecondFactorRequired
from engage.accounts.passwords import WeakPassword
from engage.storage.db import session_scope
from engage.web.console.cookies import fresh, logged_in
from engage.web.console.guard import (
    Viewer,
    checked_form,
    console_session,
    need,
    safe_next,
    set_console_session,
)
from engage.web.console.render import render

router = APIRouter(prefix="/console")
# Routes anyone may open (the role matrix test expects them to need no login).
OPEN_PATHS = frozenset({"/console/login", "/console/logout", "/console/setup",
                        "/console/totp", "/console/totp/enrol"})


def _now() -> datetime:
    return datetime.now(UTC)


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    session = console_session(request)
    if session.user_id is not None:
        return _redirect(safe_next(next))
    set_console_session(request, replace(session, expired=False))  # said once
    return render(request, "login.html", next=safe_next(next), email="",
                  expired=session.expired)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await checked_form(request)
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    state = request.app.state
    try:
        user = service.authenticate(state.engine, secret=state.settings.secret_bytes(),
                                    email=email, password=password, now=_now())
    except SecondFactorRequired as exc:
        set_console_session(request, _pending(exc.user_id))
        return _redirect("/console/totp?next=" + target)
    except AccountError as exc:
        return render(request, "login.html", next=target, email=email, expired=False,
                      error=str(exc).capitalize() + ".", status=400)
    assert user.id is not None
    if service.totp_required(user, state.settings.env) and user.totp_secret_enc is None:
        set_console_session(request, _pending(user.id))
        return _redirect("/console/totp/enrol?next=" + target)
    set_console_session(request, logged_in(user.id, time.time()))
    if target == "/console/" and user.role == "mediator":
        target = "/console/sessions"
    return _redirect(target)


def _pending(user_id: int) -> Any:
    return replace(fresh(time.time()), pending_user_id=user_id)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    set_console_session(request, fresh(time.time()))
    return render(request, "message.html", heading="Logged out",
                  text="You are logged out. Close the browser if this is a shared computer.",
                  link="/console/login", link_label="Log in again")


@router.get("/totp")
def totp_page(request: Request, next: str | None = None) -> Response:
    if console_session(request).pending_user_id is None:
        return _redirect("/console/login")
    return render(request, "totp.html", enrol=False, action="/console/totp?next="
                  + safe_next(next))


@router.post("/totp")
async def totp_submit(request: Request, next: str | None = None) -> Response:
    form = await checked_form(request)
    pending = console_session(request).pending_user_id
    if pending is None:
        return _redirect("/console/login")
    state = request.app.state
    try:
        user = service.complete_second_factor(state.engine, secret=state.settings.secret_bytes(),
                                               user_id=pending, code=str(form.get("code") or ""),
                                               now=_now())
    except AccountError as exc:
        return render(request, "totp.html", enrol=False, error=str(exc).capitalize() + ".",
                      action="/console/totp?next=" + safe_next(next), status=400)
    assert user.id is not None
    set_console_session(request, logged_in(user.id, time.time()))
    return _redirect(safe_next(next))


def _enrol_page(request: Request, user: Any, secret: str, next_path: str,
                error: str | None = None) -> Response:
    uri = service.totp_uri(secret, user, request.app.state.settings.program_name)
    return render(request, "totp.html", enrol=True, secret=secret, uri=uri, error=error,
                  action="/console/totp/enrol?next=" + safe_next(next_path),
                  viewer=None, status=400 if error else 200)


def _enrolling_user(request: Request) -> Any:
    """The user enrolling: pending after a password (forced) or logged in (by choice)."""
    session = console_session(request)
    user_id = session.pending_user_id or session.user_id
    if user_id is None:
        return None
    with Session(request.app.state.engine) as db:
        user = service.get_user(session=db, user_id=user_id)
        if user is not None:
            db.expunge(user)
    return None if user is None or user.disabled else user


@router.get("/totp/enrol")
def enrol_page(request: Request, next: str | None = None) -> Response:
    user = _enrolling_user(request)
    if user is None:
        return _redirect("/console/login")
    return _enrol_page(request, user, service.new_totp_secret(), next or "/console/")


@router.post("/totp/enrol")
async def enrol_submit(request: Request, next: str | None = None) -> Response:
    form = await checked_form(request)
    user = _enrolling_user(request)
    if user is None:
        return _redirect("/console/login")
    secret_b32 = str(form.get("secret") or "")
    state = request.app.state
    try:
        with session_scope(state.engine) as db:
            row = service.get_user(session=db, user_id=user.id)
            assert row is not None
            service.enable_totp(session=db, secret=state.settings.secret_bytes(), user=row,
                                secret_b32=secret_b32, code=str(form.get("code") or ""),
                                now=_now())
    except AccountError as exc:
        return _enrol_page(request, user, secret_b32, next or "/console/",
                           error=str(exc).capitalize() + ".")
    set_console_session(request, logged_in(int(user.id), time.time()))
    return _redirect(safe_next(next))


@router.get("/setup")
def setup_page(request: Request, token: str = "") -> Response:
    with Session(request.app.state.engine) as db:
        try:
            service.check_setup_link(session=db, raw=token, now=_now())
        except AccountError as exc:
            return render(request, "message.html", heading="This link cannot be used",
                          text=str(exc).capitalize() + ".", link="/console/login",
                          link_label="Go to the login page", status=400)
    return render(request, "setup.html", token=token)


@router.post("/setup")
async def setup_submit(request: Request) -> Response:
    form = await checked_form(request)
    token = str(form.get("token") or "")
    password, confirm = str(form.get("password") or ""), str(form.get("confirm") or "")
    if password != confirm:
        return render(request, "setup.html", token=token, status=400,
                      error="The two passwords are not the same. Please type them again.")
    try:
        with session_scope(request.app.state.engine) as db:
            service.redeem_setup_link(session=db, raw=token, password=password, now=_now())
    except (AccountError, WeakPassword) as exc:
        return render(request, "setup.html", token=token, status=400,
                      error=str(exc).capitalize() + ".")
    set_console_session(request, fresh(time.time()))
    return render(request, "message.html", heading="Password set",
                  text="Your password is set. You can log in now.", link="/console/login",
                  link_label="Log in")


@router.get("/account")
def account_page(request: Request, viewer: Viewer = Depends(need(None))) -> Response:
    """Where anyone logged in can turn on the second factor."""
    return render(request, "account.html", viewer=viewer,
                  has_totp=viewer.user.totp_secret_enc is not None)
