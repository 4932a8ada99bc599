"""``engage users add|list|disable|enable|reset``: console and API accounts.

The first admin is made here; a new account gets a one-time link to choose its password
(valid 24 hours), printed as the last line so scripts can take it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from engage.commands.common import console, fail
from engage.errors import EngageError

users_app = typer.Typer(help="Console and API accounts (admin, staff, mediator).",
                        no_args_is_help=True)
UrlOption = Annotated[str | None, typer.Option("--url", help="Database URL "
                                               "(default: ENGAGE_DATABASE_URL).")]
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


def in_session(url: str | None, action: Callable[[Any], T]) -> T:
    """Run ``action(session)`` in one transaction; account errors become one line, exit 1."""
    from engage.commands.db.connect import open_engine
    from engage.storage.db import session_scope

    engine = open_engine(url)
    try:
        with session_scope(engine) as session:
            return action(session)
    except EngageError as exc:
        fail(str(exc))
    finally:
        engine.dispose()


def _now() -> Any:
    from engage.clock import utcnow

    return utcnow()


@users_app.command("add")
def add_command(
    email: Annotated[str, typer.Argument(help="The person's email (their login)")],
    role: Annotated[str, typer.Option(help="admin, staff or mediator")],
    area: Annotated[list[str] | None, typer.Option(
        "--area", help="Limit a mediator to this neighbourhood or district (repeatable)")] = None,
    url: UrlOption = None,
) -> None:
    """Create an account and print a one-time link to set its password (valid 24 h)."""
    from engage.accounts import service
    from engage.accounts.areas import load_known_areas
    from engage.config import get_settings

    settings = get_settings()
    try:
        areas = load_known_areas(settings.flows_dir).resolve(area or [])
    except ValueError as exc:
        fail(str(exc))
    now = _now()

    def add(session: Any) -> str:
        user = service.create_user(session=session, email=email, role=role, areas=areas,
                                   now=now)
        return service.issue_setup_link(session=session, user=user, now=now)

    raw = in_session(url, add)
    print(f"created {role.strip().lower()} account for {email.strip().lower()}"
          + (f" (areas: {', '.join(areas)})" if areas else ""))
    print("send them this one-time link to set a password (valid 24 hours):")
    print(service.setup_url(settings.public_url, raw))


@users_app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json")] = False,
                 url: UrlOption = None) -> None:
    """Every account: role, areas, status, last login."""
    from engage.accounts import service

    rows = in_session(url, lambda s: [_row(u) for u in service.list_users(session=s)])
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "email", "role", "areas", "status", "2fa", "last login (UTC)")
    for row in rows:
        table.add_row(str(row["id"]), row["email"], row["role"], ", ".join(row["areas"]),
                      row["status"], "yes" if row["totp"] else "no",
                      (row["last_login_at"] or "never")[:16])
    console.print(table)


def _row(user: Any) -> dict[str, Any]:
    from engage.clock import utcnow

    locked = user.locked_until is not None and user.locked_until > utcnow()
    status = ("disabled" if user.disabled else "locked" if locked
              else "active" if user.password_hash else "invited")
    return {"id": user.id, "email": user.email, "role": user.role, "areas": user.areas,
            "status": status, "totp": user.totp_secret_enc is not None,
            "created_at": user.created_at.isoformat(),
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None}


@users_app.command("disable")
def disable_command(email: str, url: UrlOption = None) -> None:
    """Stop an account from logging in; its API tokens stop working at once."""
    _set_disabled(email, url, disabled=True)


@users_app.command("enable")
def enable_command(email: str, url: UrlOption = None) -> None:
    """Let a disabled account log in again."""
    _set_disabled(email, url, disabled=False)


def _set_disabled(email: str, url: str | None, *, disabled: bool) -> None:
    from engage.accounts import service

    change = service.disable_user if disabled else service.enable_user
    now = _now()
    in_session(url, lambda s: change(session=s, user=service.require_user(session=s,
                                                                          email=email), now=now))
    print(f"{'disabled' if disabled else 'enabled'} {email.strip().lower()}")


@users_app.command("reset")
def reset_command(
    email: str,
    clear_totp: Annotated[bool, typer.Option(
        "--clear-totp", help="Also remove the second factor (lost phone)")] = False,
    url: UrlOption = None,
) -> None:
    """Clear the password and lock; print a new one-time link to set a password (24 h)."""
    from engage.accounts import service
    from engage.config import get_settings

    settings = get_settings()
    now = _now()
    raw = in_session(url, lambda s: service.reset_user(
        session=s, user=service.require_user(session=s, email=email), now=now,
        clear_totp=clear_totp))
    print(f"password cleared for {email.strip().lower()}; send them this one-time link "
          "(valid 24 hours):")
    print(service.setup_url(settings.public_url, raw))
