"""The password policy and Argon2 hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from engage.accounts.passwords import (
    MIN_LENGTH,
    WeakPassword,
    check_policy,
    common_passwords,
    hash_password,
    verify_password,
)


@pytest.mark.parametrize(("password", "reason"), [
    ("short pass", "at least 12"),
    ("passwordpassword", "too common"),
    ("Password12345!", "too common"),
    ("P@ssw0rd2024!!", "too common"),
    ("qwertyuiopasdf", "too easy"),
    ("123456789012", "too"),
    ("abcabcabcabc", "too common"),
    ("aaaaaaaaaaaaaaaa", "too common"),
    ("Baltimore2026!!", "too common"),
    ("mariposa.lopez.runs", "email"),
])
def test_weak_passwords_are_refused_with_a_reason(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword, match=reason):
        check_policy(password, email="mariposa.lopez@city.example")


@pytest.mark.parametrize("password", [
    "violet kettle harbour 42", "Tr0mbone-Lantern-Quarry", "ensalada rapida de maiz",
])
def test_strong_passwords_pass(password: str) -> None:
    assert check_policy(password, email="mediator@city.example") is None  # raises when weak


def test_the_list_ships_in_the_package() -> None:
    words = common_passwords()
    assert {"password", "qwerty", "iloveyou", "baltimore"} <= words
    assert all(w == w.lower() for w in words)
    assert MIN_LENGTH == 12


def test_hash_is_argon2id_salted_and_verifies() -> None:
    first = hash_password("violet kettle harbour 42")
    second = hash_password("violet kettle harbour 42")
    assert first.startswith("$argon2id$") and first != second
    assert verify_password(first, "violet kettle harbour 42") == (True, None)
    assert verify_password(first, "violet kettle harbour 43") == (False, None)
    assert verify_password("not a hash", "anything at all") == (False, None)


def test_an_old_hash_is_replaced_on_login() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    old = weak.hash("violet kettle harbour 42")
    ok, new_hash = verify_password(old, "violet kettle harbour 42")
    assert ok and new_hash is not None and new_hash != old
    assert verify_password(new_hash, "violet kettle harbour 42") == (True, None)
