"""Telegram deep-link codes for ``t.me/<bot>?start=<code>``: opaque, unguessable, expiring.

A code is a sealed token, not a table row: AES-GCM over (kind, target id, expiry) with a key
derived from ``ENGAGE_SECRET_KEY`` and a random nonce. Why sealed rather than a lookup table:
a flyer or a mediator's message can carry a link made on any machine with the secret, nothing
has to be stored or cleaned up, and the contents (which campaign, which session, when it
expires) cannot be read or changed by anyone without the key; any tampering fails the
authentication tag. Telegram allows 64 characters from ``A-Za-z0-9_-`` in a start parameter;
a code is 55 base64url characters. Revoking a campaign's links early is done by pausing or
cancelling the campaign (the runtime refuses to start a run for it), or by rotating the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

DeepLinkKind = Literal["campaign", "session"]

_KINDS: dict[DeepLinkKind, int] = {"campaign": 1, "session": 2}
_KIND_NAMES: dict[int, DeepLinkKind] = {v: k for k, v in _KINDS.items()}
_LAYOUT = struct.Struct(">BIQ")  # kind, target id, expiry (unix seconds)
_NONCE_BYTES = 12
_KEY_LABEL = b"engage/telegram-deeplink/v1"
MAX_START_PARAMETER = 64
DEFAULT_TTL = timedelta(days=30)


@dataclass(frozen=True)
class DeepLink:
    """What a valid code stands for."""

    kind: DeepLinkKind
    target_id: int
    expires_at: datetime


def _key(secret: bytes) -> bytes:
    """A key of its own for deep links, so no other use of the secret can be confused with it."""
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def make_code(
    secret: bytes,
    kind: DeepLinkKind,
    target_id: int,
    *,
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
) -> str:
    """Seal a code for ``kind`` / ``target_id`` that stops working at ``now + ttl``."""
    if now.tzinfo is None:
        raise ValueError("naive datetime rejected: use aware UTC datetimes")
    if not 0 < target_id < 2**32:
        raise ValueError("target id out of range")
    expires = int((now + ttl).timestamp())
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_key(secret)).encrypt(
        nonce, _LAYOUT.pack(_KINDS[kind], target_id, expires), None
    )
    code = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
    assert len(code) <= MAX_START_PARAMETER
    return code


def read_code(secret: bytes, code: str, *, now: datetime) -> DeepLink | None:
    """The link a code stands for, or None when it is forged, damaged, foreign or expired."""
    if not code or len(code) > MAX_START_PARAMETER:
        return None
    try:
        raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) <= _NONCE_BYTES:
        return None
    try:
        plain = AESGCM(_key(secret)).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None)
    except InvalidTag:
        return None
    if len(plain) != _LAYOUT.size:
        return None
    kind_number, target_id, expires = _LAYOUT.unpack(plain)
    kind = _KIND_NAMES.get(kind_number)
    if kind is None:
        return None
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        return None
    return DeepLink(kind=kind, target_id=target_id, expires_at=expires_at)


def link_url(bot_username: str, code: str) -> str:
    """The link residents tap: ``https://t.me/<bot>?start=<code>``."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"
