"""``engage tokens create|list|revoke``: bearer tokens for the HTTP API.

A token acts with its user's role. It is printed once (the last word of the last line); only
its hash is stored, so a lost token is revoked and replaced, never recovered."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from engage.commands.common import console
from engage.commands.users import UrlOption, _now, in_session

tokens_app = typer.Typer(help="API tokens (bearer tokens acting with a user's role).",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
def create_command(
    email: Annotated[str, typer.Argument(help="The account the token acts for")],
    name: Annotated[str, typer.Option(help="What the token is for (shown in lists)")] = "",
    expires: Annotated[str, typer.Option(help="Lifetime: 90d, 12w, 24h or never")] = "90d",
    url: UrlOption = None,
) -> None:
    """Create a token and print it once: it cannot be shown again."""
    from engage.accounts import service

    now = _now()

    def create(session: Any) -> tuple[str, dict[str, Any]]:
        lifetime = service.parse_expires(expires)
        user = service.require_user(session=session, email=email)
        raw, token = service.create_token(session=session, user=user, now=now, name=name,
                                          expires_in=lifetime, actor="cli")
        return raw, _row(token, user.email)

    raw, row = in_session(url, create)
    until = row["expires_at"][:10] if row["expires_at"] else "never"
    print(f"token {row['id']} for {row['email']} ({row['prefix']}…, expires {until}); "
          "shown once, store it now:")
    print(raw)


def _row(token: Any, email: str) -> dict[str, Any]:
    return {"id": token.id, "email": email, "name": token.name, "prefix": token.prefix,
            "created_at": token.created_at.isoformat(),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
            "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None}


@tokens_app.command("list")
def list_command(
    email: Annotated[str | None, typer.Argument(help="Only this account's tokens")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOption = None,
) -> None:
    """Tokens with their prefix, owner, expiry and last use (never the token itself)."""
    from engage.accounts import service

    def rows(session: Any) -> list[dict[str, Any]]:
        user = service.require_user(session=session, email=email) if email else None
        emails = {u.id: u.email for u in service.list_users(session=session)}
        return [_row(t, emails.get(t.user_id, "?"))
                for t in service.list_tokens(session=session, user=user)]

    items = in_session(url, rows)
    if as_json:
        print(json.dumps(items, indent=2))
        return
    table = Table("id", "email", "name", "expires", "last used", "status")
    table.add_column("prefix", no_wrap=True, min_width=12)  # the part an operator revokes by
    for row in items:
        table.add_row(str(row["id"]), row["email"], row["name"],
                      (row["expires_at"] or "never")[:10],
                      (row["last_used_at"] or "never")[:16],
                      "revoked" if row["revoked_at"] else "active", row["prefix"])
    console.print(table)


@tokens_app.command("revoke")
def revoke_command(
    token_or_id: Annotated[str, typer.Argument(
        metavar="TOKEN-OR-ID", help="The token's id, its prefix, or the token itself")],
    url: UrlOption = None,
) -> None:
    """Revoke a token: it stops working on the next request."""
    from engage.accounts import service

    now = _now()
    token_id = in_session(url, lambda s: service.revoke_token(
        session=s, token=service.find_token(session=s, token_or_id=token_or_id), now=now).id)
    print(f"revoked token {token_id}")
