"""Password hashing (Argon2id via argon2-cffi) and the password policy.

The policy follows NIST SP 800-63B: a minimum length (12), no composition rules, and a check
against common passwords (shipped in ``common_passwords.txt``) that also catches the usual
disguises: digits or symbols added at the ends, letter-for-digit swaps and repetitions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 256  # Argon2 takes any length; a cap keeps a login request cheap to refuse
_COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "!": "i"})
_SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "01234567890",
              "09876543210", "zyxwvutsrqponmlkjihgfedcba")

_hasher = PasswordHasher()  # argon2-cffi's defaults follow RFC 9106's second recommendation


class WeakPassword(ValueError):
    """The password breaks the policy; the message says how, for the person choosing it."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _is_repetition(text: str, words: frozenset[str]) -> bool:
    """``text`` is one short unit repeated (``abcabcabc``) or a common word repeated."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return size <= 4 or text[:size] in words
    return False


def check_policy(password: str, *, email: str | None = None) -> None:
    """Raise ``WeakPassword`` with a plain reason when ``password`` is not acceptable."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must be at most {MAX_LENGTH} characters long")
    lowered = password.lower()
    words = common_passwords()
    stripped = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", lowered)
    for candidate in {lowered, lowered.translate(_LEET), stripped, stripped.translate(_LEET)}:
        compact = re.sub(r"[\s_\-.]", "", candidate)
        if compact in words or (compact and _is_repetition(compact, words)):
            raise WeakPassword("the password is too common or too easy to guess: "
                               "try a few unrelated words")
    if len(set(lowered)) < 5 or any(lowered in seq for seq in _SEQUENCES):
        raise WeakPassword("the password is too easy to guess: try a few unrelated words")
    local = (email or "").split("@", 1)[0].lower()
    if len(local) >= 4 and local in lowered:
        raise WeakPassword("the password must not contain your email address")


def hash_password(password: str) -> str:
    """An Argon2id hash (salted, with its parameters encoded in the string)."""
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> tuple[bool, str | None]:
    """(matches, new hash or None). A new hash is returned when the stored one was made with
    older parameters, so hashes follow the library's defaults as users log in."""
    try:
        _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if _hasher.check_needs_rehash(stored_hash):
        return True, _hasher.hash(password)
    return True, None


_DUMMY_HASH: list[str] = []


def burn_verify_time(password: str) -> None:
    """Spend the time of one verification, so an unknown email answers as slowly as a known
    one (timing must not reveal which emails have accounts)."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(_hasher.hash("engage-dummy-password-for-timing"))
    verify_password(_DUMMY_HASH[0], password)
