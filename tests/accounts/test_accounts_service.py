"""Accounts end to end on the database: users, setup links, login with lockout, TOTP, tokens,
and the audit entries each leaves (with no email, password or token in them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engage import audit
from engage.accounts import service
from engage.accounts.errors import (
    AccountError,
    AccountLocked,
    LoginFailed,
    SecondFactorRequired,
    SetupLinkError,
    TokenInvalid,
)
from engage.accounts.passwords import WeakPassword
from engage.storage.db import session_scope
from engage.storage.tables import AuditEntry
from engage.storage.tables.accounts import ApiToken, SetupLink, User

SECRET = b"test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
PASSWORD = "violet kettle harbour 42"
EMAIL = "Ana.Mediator@City.Example"


def _make_user(engine: Engine, clock: Any, role: str = "mediator",
               password: str | None = PASSWORD) -> int:
    with session_scope(engine) as s:
        user = service.create_user(session=s, email=EMAIL, role=role, areas=["Hampden"],
                                   now=clock())
        raw = service.issue_setup_link(session=s, user=user, now=clock())
        if password:
            service.redeem_setup_link(session=s, raw=raw, password=password, now=clock())
        assert user.id is not None
        return user.id


def test_user_is_created_lower_cased_once(db_engine: Engine, clock: Any) -> None:
    uid = _make_user(db_engine, clock, password=None)
    with session_scope(db_engine) as s:
        user = service.get_user_by_email(session=s, email="ana.mediator@city.example ")
        assert user is not None and user.id == uid and user.email == "ana.mediator@city.example"
        assert user.areas == ["Hampden"] and user.password_hash is None
        with pytest.raises(AccountError, match="already exists"):
            service.create_user(session=s, email=EMAIL.upper(), role="staff", now=clock())
    for email, role, message in [("not-an-email", "staff", "not an email"),
                                 ("b@city.example", "owner", "admin, staff or mediator")]:
        with session_scope(db_engine) as s, pytest.raises(AccountError, match=message):
            service.create_user(session=s, email=email, role=role, now=clock())


def test_setup_link_sets_a_password_once(db_engine: Engine, clock: Any) -> None:
    uid = _make_user(db_engine, clock, password=None)
    with session_scope(db_engine) as s:
        user = s.get(User, uid)
        assert user is not None
        raw = service.issue_setup_link(session=s, user=user, now=clock())
        stored = s.exec(select(SetupLink)).all()
        assert len(stored) == 1 and raw not in {link.token_hash for link in stored}
    with session_scope(db_engine) as s, pytest.raises(WeakPassword, match="at least 12"):
        service.redeem_setup_link(session=s, raw=raw, password="short", now=clock())
    with session_scope(db_engine) as s:
        service.redeem_setup_link(session=s, raw=raw, password=PASSWORD, now=clock())
    with session_scope(db_engine) as s, pytest.raises(SetupLinkError, match="already used"):
        service.redeem_setup_link(session=s, raw=raw, password=PASSWORD, now=clock())
    with session_scope(db_engine) as s, pytest.raises(SetupLinkError, match="not valid"):
        service.redeem_setup_link(session=s, raw="made-up", password=PASSWORD, now=clock())
    assert service.authenticate(db_engine, secret=SECRET, email=EMAIL, password=PASSWORD,
                                now=clock()).id == uid


def test_setup_link_expires_after_24_hours_and_a_new_one_replaces_it(
        db_engine: Engine, clock: Any) -> None:
    uid = _make_user(db_engine, clock, password=None)
    with session_scope(db_engine) as s:
        user = s.get(User, uid)
        assert user is not None
        first = service.issue_setup_link(session=s, user=user, now=clock())
        second = service.issue_setup_link(session=s, user=user, now=clock())
    with session_scope(db_engine) as s, pytest.raises(SetupLinkError, match="not valid"):
        service.check_setup_link(session=s, raw=first, now=clock())
    clock.advance(hours=24)
    with session_scope(db_engine) as s, pytest.raises(SetupLinkError, match="expired"):
        service.redeem_setup_link(session=s, raw=second, password=PASSWORD, now=clock())


def test_failed_logins_lock_with_a_doubling_wait(db_engine: Engine, clock: Any) -> None:
    _make_user(db_engine, clock)
    for _ in range(service.LOCK_AFTER - 1):
        with pytest.raises(LoginFailed, match="wrong email, password or code"):
            service.authenticate(db_engine, secret=SECRET, email=EMAIL, password="wrong one",
                                 now=clock())
    with pytest.raises(LoginFailed):
        service.authenticate(db_engine, secret=SECRET, email=EMAIL, password="wrong one",
                             now=clock())
    with pytest.raises(AccountLocked, match="locked until") as locked:
        service.authenticate(db_engine, secret=SECRET, email=EMAIL, password=PASSWORD,
                             now=clock())
    assert locked.value.until == clock() + timedelta(minutes=1)
    clock.advance(minutes=1)
    with pytest.raises(LoginFailed):  # the sixth failure: two minutes now
        service.authenticate(db_engine, secret=SECRET, email=EMAIL, password="wrong one",
                             now=clock())
    with pytest.raises(AccountLocked) as locked:
        service.authenticate(db_engine, secret=SECRET, email=EMAIL, password=PASSWORD,
                             now=clock())
    assert locked.value.until == clock() + timedelta(minutes=2)
    clock.advance(minutes=2)
    user = service.authenticate(db_engine, secret=SECRET, email=EMAIL, password=PASSWORD,
                                now=clock())
    assert user.failed_logins == 0 and user.last_login_at == clock()


def test_unknown_emails_answer_and_lock_exactly_like_accounts(
        db_engine: Engine, clock: Any) -> None:
    _make_user(db_engine, clock)
    answers = {}
    for email in (EMAIL, "nobody@city.example"):
        seen = []
        for _ in range(service.LOCK_AFTER + 1):
            try:
                service.authenticate(db_engine, secret=SECRET, email=email, password="wrong one",
                                     now=clock())
            except (LoginFailed, AccountLocked) as exc:
                seen.append(str(exc))
        answers[email] = seen
    assert answers[EMAIL] == answers["nobody@city.example"]
    assert answers[EMAIL][-1].startswith("too many failed attempts: locked until")


def test_disabled_and_passwordless_accounts_cannot_log_in(db_engine: Engine, clock: Any) -> None:
    uid = _make_user(db_engine, clock)
    with session_scope(db_engine) as s:
        user = s.get(User, uid)
        assert user is not None
        service.disable_user(session=s, user=user, now=clock())
    with pytest.raises(LoginFailed):
        service.authenticate(db_engine, secret=SECRET, email=EMAIL, password=PASSWORD,
                             now=clock())
    with session_scope(db_engine) as s:
        user = s.get(User, uid)
        assert user is not None
        service.enable_user(session=s, user=user, now=clock())
        service.reset_user(session=s, user=user, now=clock())
    with pytest.raises(LoginFailed):
        service.authenticate(db_engine, secret=SECRET, email=EMAIL, password=PASSWORD,
                             now=clock())


def test_totp_second_factor(db_engine: Engine, clock: Any) -> None:
    uid = _make_user(db_engine, clock)
    secret_b32 = service.new_totp_secret()
    totp = pyotp.TOTP(secret_b32)
    with session_scope(db_engine) as s:
        user = s.get(User, uid)
        assert user is not None
        assert service.totp_uri(secret_b32, user, "engage").startswith("otpauth://totp/")
        with pytest.raises(AccountError, match="does not match"):
            service.enable_totp(session=s, secret=SECRET, user=user, secret_b32=secret_b32,
                                code="000000" if totp.at(clock()) != "000000" else "111111",
                                now=clock())
        service.enable_totp(session=s, secret=SECRET, user=user, secret_b32=secret_b32,
                            code=totp.at(clock()), now=clock())
        assert user.totp_secret_enc is not None and secret_b32.encode() not in user.totp_secret_enc
    clock.advance(seconds=30)
    with pytest.raises(SecondFactorRequired) as needed:
        service.authenticate(db_engine, secret=SECRET, email=EMAIL, password=PASSWORD,
                             now=clock())
    assert needed.value.user_id == uid
    code = totp.at(clock())
    user = service.complete_second_factor(db_engine, secret=SECRET, user_id=uid, code=code,
                                          now=clock())
    assert user.id == uid
    with pytest.raises(LoginFailed):  # the same code cannot be replayed
        service.authenticate(db_engine, secret=SECRET, email=EMAIL, password=PASSWORD,
                             now=clock(), totp_code=code)
    clock.advance(seconds=30)
    assert service.authenticate(db_engine, secret=SECRET, email=EMAIL, password=PASSWORD,
                                now=clock(), totp_code=totp.at(clock())).id == uid


def test_tokens_verify_until_revoked_expired_or_disabled(db_engine: Engine, clock: Any) -> None:
    uid = _make_user(db_engine, clock, role="staff")
    with session_scope(db_engine) as s:
        user = s.get(User, uid)
        assert user is not None
        raw, token = service.create_token(session=s, user=user, now=clock(), name="portal",
                                          expires_in=timedelta(days=1))
        short, _ = service.create_token(session=s, user=user, now=clock(), expires_in=None)
    assert raw.startswith("eng_") and len(raw) > 40 and token.prefix == raw[:12]
    with session_scope(db_engine) as s:
        assert raw not in {t.token_hash for t in s.exec(select(ApiToken))}
        found, used = service.verify_token(session=s, raw=raw, now=clock())
        assert found.id == uid and used.last_used_at == clock()
        assert service.find_token(session=s, token_or_id=raw).id == token.id
        assert service.find_token(session=s, token_or_id=str(token.id)).id == token.id
        with pytest.raises(AccountError, match="no such token"):
            service.find_token(session=s, token_or_id="eng_nothing_like_it")
    clock.advance(days=1)
    with session_scope(db_engine) as s, pytest.raises(TokenInvalid, match="expired"):
        service.verify_token(session=s, raw=raw, now=clock())
    with session_scope(db_engine) as s:
        service.verify_token(session=s, raw=short, now=clock())
        service.revoke_token(session=s, token=service.find_token(session=s, token_or_id=short),
                             now=clock())
    with session_scope(db_engine) as s, pytest.raises(TokenInvalid, match="revoked"):
        service.verify_token(session=s, raw=short, now=clock())
    with session_scope(db_engine) as s:
        user = s.get(User, uid)
        assert user is not None
        live, _ = service.create_token(session=s, user=user, now=clock())
        service.disable_user(session=s, user=user, now=clock())
    with session_scope(db_engine) as s, pytest.raises(TokenInvalid, match="disabled"):
        service.verify_token(session=s, raw=live, now=clock())
    with session_scope(db_engine) as s:
        assert len(service.list_tokens(session=s)) == 3


@pytest.mark.parametrize(("text", "days"), [("90d", 90), ("2w", 14), ("48h", 2), (None, 90)])
def test_parse_expires(text: str | None, days: int) -> None:
    assert service.parse_expires(text) == timedelta(days=days)


def test_parse_expires_refuses_nonsense() -> None:
    assert service.parse_expires("never") is None
    with pytest.raises(AccountError, match="not a duration"):
        service.parse_expires("soon")


def test_every_event_is_audited_without_personal_data(db_engine: Engine, clock: Any) -> None:
    uid = _make_user(db_engine, clock)
    with pytest.raises(LoginFailed):
        service.authenticate(db_engine, secret=SECRET, email=EMAIL, password="wrong one",
                             now=clock())
    service.authenticate(db_engine, secret=SECRET, email=EMAIL, password=PASSWORD, now=clock())
    with session_scope(db_engine) as s:
        user = s.get(User, uid)
        assert user is not None
        raw, token = service.create_token(session=s, user=user, now=clock())
        service.revoke_token(session=s, token=token, now=clock())
    with Session(db_engine) as s:
        entries = s.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()  # type: ignore[arg-type]
        assert audit.verify(s).ok
    actions = [e.action for e in entries]
    assert actions == ["account.user_created", "account.setup_link_issued",
                       "account.password_set", "account.login_failed", "account.login",
                       "account.token_created", "account.token_revoked"]
    text = " ".join(f"{e.actor} {e.subject} {e.details}" for e in entries).lower()
    assert "ana.mediator" not in text and PASSWORD not in text and raw.lower() not in text
    assert all(e.subject == f"user:{uid}" for e in entries)


def test_totp_is_required_for_admins_in_production_only() -> None:
    admin, staff = User(email="a@x.example", role="admin"), User(email="s@x.example", role="staff")
    assert service.totp_required(admin, "production")
    assert not service.totp_required(admin, "development")
    assert not service.totp_required(staff, "production")
