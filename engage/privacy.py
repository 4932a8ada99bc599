"""Pseudonyms, address encryption, free-text scrubbing, retention and erasure.

- A participant is known by ``participant_key`` = HMAC-SHA256(secret, channel + normalized
  address): stable, so a resident keeps one identity, and useless without the secret.
- The address itself is stored only encrypted (Fernet, key derived from the secret with HKDF)
  and decrypted only to send.
- Free text is scrubbed of phone numbers, emails, URLs, handles and street addresses before it
  is stored for analysis.
- Raw message bodies are purged after the retention period; erasure deletes everything that
  could tie answers back to a person and leaves an anonymous tombstone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import CursorResult, String, cast, delete, func, literal, update
from sqlalchemy.sql.dml import Delete, Update
from sqlmodel import Session, col, select

from engage import identity_scrub
from engage.errors import UserError
from engage.storage.tables import ConsentEntry, Message, Outbox, Participant, Response, Run

DEFAULT_REGION = "US"
TOMBSTONE_PREFIX = "erased:"

# --- addresses and pseudonyms -----------------------------------------------------------


def normalize_address(channel: str, raw: str) -> str:
    """E.164 for SMS (default region US), the integer chat id for Telegram.

    Raises ``UserError`` (message without the address itself) when it cannot be a valid one.
    """
    value = (raw or "").strip()
    if channel == "sms":
        return _normalize_phone(value)
    if channel == "telegram":
        if not re.fullmatch(r"-?\d{1,20}", value):
            raise UserError("telegram address must be a numeric chat id")
        return str(int(value))
    raise UserError(f"unknown channel {channel!r}")


@lru_cache(maxsize=4096)
def _normalize_phone(value: str) -> str:
    """libphonenumber parsing is the slowest step of an inbound message: cached per process."""
    try:
        number = phonenumbers.parse(value, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise UserError("sms address is not a phone number") from exc
    if not phonenumbers.is_possible_number(number):
        raise UserError("sms address is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def participant_key(secret: bytes, channel: str, normalized: str) -> str:
    """HMAC-SHA256(secret, "channel:address") as 64 hex characters."""
    message = f"{channel}:{normalized}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


@lru_cache(maxsize=8)
def _fernet(secret: bytes) -> Fernet:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"engage-address", info=b"fernet-v1")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret)))


def encrypt_address(secret: bytes, addr: str) -> bytes:
    """Authenticated encryption of an address (randomized: equal inputs give different blobs)."""
    return _fernet(secret).encrypt(addr.encode())


def decrypt_address(secret: bytes, blob: bytes) -> str:
    """The address back, only to send. A wrong key or a tampered blob raises ``UserError``."""
    try:
        return _fernet(secret).decrypt(bytes(blob)).decode()
    except InvalidToken as exc:
        raise UserError("address cannot be decrypted with this ENGAGE_SECRET_KEY") from exc


def mask(address: str) -> str:
    """A display form that shows only the ends: "+1410*****34" (for staff screens, never logs)."""
    value = address.strip()
    if len(value) <= 4:
        return "*" * len(value)
    head = 4 if value.startswith("+") else 2
    head = min(head, len(value) - 4)
    return value[:head] + "*" * (len(value) - head - 2) + value[-2:]


# --- scrubbing --------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_URL = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|gov|edu|io|us|info|co|me|ly|app|biz)\b(?:/\S*)?",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,}")
_STREET_SUFFIX = (
    r"st|street|ave|avenue|av|rd|road|blvd|boulevard|dr|drive|ln|lane|way|ct|court|pl|place|"
    r"ter|terrace|pkwy|parkway|hwy|highway|cir|circle|sq|square|aly|alley|row|pike|plaza|"
    r"calle|avenida"
)
_STREET = re.compile(
    r"\b\d{1,6}[a-z]?\s+"  # house number
    r"(?:(?:n|s|e|w|ne|nw|se|sw|north|south|east|west)\.?\s+)?"  # direction
    r"(?:[a-z0-9'.-]+\s+){0,3}?"  # street name words
    rf"(?:{_STREET_SUFFIX})\b\.?"
    r"(?:,?\s*(?:apt|apartment|unit|suite|ste|#)\.?\s*#?\s*[a-z0-9-]+)?",
    re.IGNORECASE,
)
_PHONE_LIKE = re.compile(r"(?<![\w])\+?\(?\d[\d\s().-]{5,}\d(?![\w])")
_SEVEN = re.compile(r"\d{3}[\s.-]\d{4}")


def _phone_span(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if digits >= 10 or (digits >= 7 and _SEVEN.search(text)):
        return "[phone]"
    return text


def scrub(text: str) -> str:
    """Replace emails, URLs, handles, street addresses, phone numbers and introduced names
    with tags, written with digits and symbols or spelled out in words (en + es).

    Order matters: emails before URLs (a domain is inside an email), street addresses before
    phone numbers (a house number is digits), libphonenumber's matcher before the catch-all.
    """
    if not text:
        return text
    out = identity_scrub.scrub_names(identity_scrub.scrub_spoken(text))
    if "@" in out:  # each rule runs only where what it needs is there (short replies: none)
        out = _HANDLE.sub("[handle]", _EMAIL.sub("[email]", out))
    if "." in out:
        out = _URL.sub("[url]", out)
    digits = sum(ch.isdigit() for ch in out)
    if digits:
        out = _STREET.sub("[address]", out)
    if digits < 7:
        return out  # every phone rule needs seven digits (libphonenumber's matcher is costly)
    spans = [
        (m.start, m.end)
        for m in phonenumbers.PhoneNumberMatcher(
            out, DEFAULT_REGION, leniency=phonenumbers.Leniency.POSSIBLE)
    ]
    for start, end in reversed(spans):
        out = out[:start] + "[phone]" + out[end:]
    return _PHONE_LIKE.sub(_phone_span, out)


# --- retention and erasure --------------------------------------------------------------


def _rows_changed(session: Session, statement: Update | Delete) -> int:
    """Run an UPDATE or DELETE and return the rows it matched (the count is only on the
    cursor result, which ``Session.execute`` is not typed to return)."""
    result = session.execute(statement)
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} has no row count")
    return result.rowcount


def purge_expired_bodies(*, session: Session, now: datetime, days: int) -> int:
    """Blank message bodies older than ``days`` (inbound and outbound, incl. finished outbox
    rows). Also drops any address copy left on a finished outbox row. Returns rows purged."""
    if now.tzinfo is None:
        raise ValueError("naive datetime rejected")
    cutoff = now - timedelta(days=days)
    done = ("sent", "failed", "cancelled", "delivered", "undelivered")
    messages = _rows_changed(
        session,
        update(Message)
        .where(col(Message.created_at) < cutoff, col(Message.body).is_not(None))
        .values(body=None, purged_at=now)
    )
    outbox = _rows_changed(
        session,
        update(Outbox)
        .where(col(Outbox.created_at) < cutoff, col(Outbox.body).is_not(None),
               col(Outbox.status).in_(done))
        .values(body=None)
    )
    session.execute(
        update(Outbox)
        .where(col(Outbox.address_enc).is_not(None), col(Outbox.status).in_(done))
        .values(address_enc=None)
    )
    return int(messages or 0) + int(outbox or 0)


def erase_participant(
    *, session: Session, participant: Participant, now: datetime
) -> dict[str, int]:
    """Forget a resident: answers, free text, runs, messages and the address go.

    What stays is an anonymous tombstone: the participant row with a random key (so a later
    message from the same address cannot be matched to it), no address, no area, and the
    consent ledger rows (needed to prove what was consented to) linked to the tombstone. The
    caller appends the audit entry and enqueues the confirmation (see runtime: the confirmation
    carries its own encrypted address because the participant's is gone).
    """
    from engage import audit
    from engage.storage import repo
    from engage.storage.sql import Tx

    if participant.id is None:
        raise ValueError("participant is not stored")
    pid = participant.id
    run_ids = select(Run.id).where(Run.participant_id == pid)
    counts = {
        "responses": _rows_changed(
            session,
            delete(Response).where(
                (col(Response.participant_id) == pid) | col(Response.run_id).in_(run_ids)
            )
        ),
        "messages": _rows_changed(
            session,
            delete(Message).where(col(Message.participant_id) == pid)),
    }
    repo.cancel_pending_outbox(tx=Tx.of_session(session), participant_id=pid,
                               keep_confirmations=False, reason="erased")
    session.execute(  # run_id too: the runs go below, and SQLite may give their ids out again
        update(Outbox).where(col(Outbox.participant_id) == pid)
        .values(body=None, buttons=None, run_id=None)
    )
    counts["runs"] = _rows_changed(session, delete(Run).where(col(Run.participant_id) == pid))
    unlink_provider_ids(session=session, participant_ids=[pid])
    from engage.deliberation.store import erase_resident

    counts.update(erase_resident(session, pid))
    counts = {k: int(v or 0) for k, v in counts.items()}

    participant.key = TOMBSTONE_PREFIX + uuid.uuid4().hex
    participant.address_enc = None
    participant.area = None
    participant.district = None
    participant.timezone = None
    participant.opted_out = True
    participant.consent_surveys = "erased"
    participant.consent_dialogue = "erased"
    participant.consent_quotes = "erased"
    participant.erased_at = now
    session.add(participant)
    session.add(ConsentEntry(participant_id=pid, scope="all", status="erased",
                             text_version="erasure", source="keyword", at=now))
    session.flush()
    audit.append(session=session, actor="participant", action="participant.erased",
                 subject=f"participant:{pid}", details=counts, now=now)
    return counts


def erased_provider_id(secret: bytes, channel: str, provider_id: str) -> str:
    """What an erased resident's DELETE row keeps instead of the provider's message id: a
    keyed digest, so a redelivery of that DELETE is still recognised, while the provider's
    logs (which map message ids to numbers) cannot be joined to anything here."""
    digest = hmac.new(secret, f"provider:{channel}:{provider_id}".encode(), hashlib.sha256)
    return TOMBSTONE_PREFIX + digest.hexdigest()[:40]


def unlink_provider_ids(*, session: Session, participant_ids: list[int] | None = None) -> int:
    """Clear provider message ids (Twilio SIDs, Telegram ids) and the inbound ids inside
    outbox dedupe keys from every finished row of erased residents (``participant_ids``, or
    every tombstone). Rows still pending keep their key until sent; the erasure tick comes
    back for them. Returns the rows changed."""
    if participant_ids is None:
        ids: Any = select(Participant.id).where(col(Participant.erased_at).is_not(None))
    else:
        ids = participant_ids
    outbox = _rows_changed(
        session,
        update(Outbox)
        .where(col(Outbox.participant_id).in_(ids), col(Outbox.status) != "pending",
               col(Outbox.status) != "claimed",
               ~col(Outbox.dedupe_key).startswith(TOMBSTONE_PREFIX))
        .values(provider_id=None,
                dedupe_key=literal(TOMBSTONE_PREFIX) + cast(col(Outbox.id), String))
    )
    messages = _rows_changed(
        session,
        update(Message)
        .where(col(Message.participant_id).in_(ids), col(Message.provider_id).is_not(None))
        .values(provider_id=None)
    )
    return int(outbox or 0) + int(messages or 0)


def count_erased(session: Session) -> int:
    """Number of tombstones (for reports; tombstones carry nothing else)."""
    stmt = select(func.count()).where(col(Participant.erased_at).is_not(None))
    return int(session.exec(stmt).one())
