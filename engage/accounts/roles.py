"""Roles and what each may do: one table, read by the console, the API and the CLI alike."""

from __future__ import annotations

from enum import StrEnum

from engage.storage.tables.accounts import User


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    MEDIATOR = "mediator"


class Permission(StrEnum):
    USERS = "users"  # manage accounts
    SETTINGS = "settings"
    CAMPAIGNS = "campaigns"  # list, create, start, pause, resume, cancel
    FLOWS_READ = "flows.read"
    SUMMARIES = "summaries"  # suppressed summary tables
    EXPORTS = "exports"  # downloads of summaries and briefings
    PUBLIC_REPORT = "public_report"
    AUDIT_STATUS = "audit.status"
    SESSIONS_OWN = "sessions.own"  # a mediator's own dialogue sessions, within their areas
    SESSIONS_ALL = "sessions.all"  # every dialogue session (admin)
    DELIBERATION_OWN = "deliberation.own"  # conversations linked to one's own sessions
    DELIBERATION_ALL = "deliberation.all"  # every deliberation conversation


_STAFF = frozenset({
    Permission.CAMPAIGNS, Permission.FLOWS_READ, Permission.SUMMARIES, Permission.EXPORTS,
    Permission.PUBLIC_REPORT, Permission.AUDIT_STATUS, Permission.DELIBERATION_OWN,
    Permission.DELIBERATION_ALL,
})
_MEDIATOR = frozenset({Permission.SESSIONS_OWN, Permission.PUBLIC_REPORT,
                       Permission.DELIBERATION_OWN})

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.STAFF: _STAFF,
    Role.MEDIATOR: _MEDIATOR,
}


def parse_role(value: str) -> Role:
    """The role named by ``value``; ``ValueError`` names the valid ones."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise ValueError(f"unknown role {value!r} (use admin, staff or mediator)") from None


def can(user: User | None, permission: Permission) -> bool:
    """Whether ``user`` may do ``permission``: never for no user or a disabled one."""
    if user is None or user.disabled:
        return False
    try:
        role = Role(user.role)
    except ValueError:
        return False
    return permission in PERMISSIONS[role]


def mediator_name(user: User) -> str:
    """The value stored in ``DialogueSession.mediator`` for sessions this user owns.

    An opaque id rather than the email, so audit entries about sessions carry no personal data."""
    return f"user:{user.id}"


def in_areas(user: User, area: str, districts_of: dict[str, str] | None = None) -> bool:
    """Whether ``area`` (a neighbourhood or district) is within the user's areas.

    No areas means no limit. A neighbourhood is within a district the user holds when
    ``districts_of`` (neighbourhood -> district, lower-cased keys) says so."""
    allowed = {a.strip().lower() for a in user.areas}
    if not allowed:
        return True
    wanted = area.strip().lower()
    if wanted in allowed:
        return True
    district = (districts_of or {}).get(wanted)
    return district is not None and district.lower() in allowed
