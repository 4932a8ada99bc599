"""Check-in: the session's code (made, recognised in a reply, matched while check-in is open),
and attendance recorded from a resident's text or by the mediator."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from engage.errors import UserError
from engage.scheduling.clock import aware
from engage.scheduling.dialogue._outbox import dedupe_key
from engage.scheduling.dialogue._texts import session_text
from engage.storage import repo
from engage.storage.records import ParticipantRow
from engage.storage.tables import Participant
from engage.storage.tables.scheduling import DialogueSession, SessionRsvp

CHECKIN_EARLY = timedelta(hours=1)
CHECKIN_LATE = timedelta(hours=1)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 5
_CHECKIN_PREFIX = re.compile(
    r"^(check\s*-?\s*in|checkin|registro|llegue|llegué|code|codigo|código)\b", re.IGNORECASE
)


def new_checkin_code() -> str:
    """Five characters, no look-alikes (0/O, 1/I/L), always letters and digits mixed so it is
    never a word or a survey answer."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if could_be_code(code):
            return code


_CODE_CHARS = frozenset(CODE_ALPHABET)


def could_be_code(code: str) -> bool:
    """Pure: whether ``new_checkin_code`` can have made ``code`` (the right length, only its
    alphabet, letters and digits mixed): a survey answer ("Hello", "skip", "12345") is ruled out
    without a query."""
    if len(code) != CODE_LENGTH or not _CODE_CHARS.issuperset(code):
        return False
    letters = sum(c.isalpha() for c in code)
    return 2 <= letters <= CODE_LENGTH - 1


def normalize_code(text: str) -> str:
    """"check in k7p2x" / "#K7P2X" / "k7p2x" -> "K7P2X"."""
    stripped = _CHECKIN_PREFIX.sub("", (text or "").strip())
    return re.sub(r"[^0-9A-Za-z]", "", stripped).upper()


def checkin_code(text: str) -> str | None:
    """Pure: the code ``text`` would be if it were a check-in (None when it cannot be one),
    so most replies are ruled out without a query."""
    if len(text or "") > 40:
        return None
    code = normalize_code(text)
    return code if could_be_code(code) else None


def checkin_open(ds: DialogueSession, now: datetime) -> bool:
    now = aware(now)
    return (ds.status == "scheduled"
            and ds.starts_at - CHECKIN_EARLY <= now <= ds.ends_at + CHECKIN_LATE)


def match_checkin(ds: DialogueSession, participant: ParticipantRow | Participant,
                  text: str, now: datetime) -> bool:
    """Pure: is ``text`` this session's check-in code, sent while check-in is open?"""
    if participant.erased_at is not None or len(text or "") > 40:
        return False
    return checkin_open(ds, now) and normalize_code(text) == ds.checkin_code


@dataclass(frozen=True)
class CheckinResult:
    session_id: int
    first_time: bool
    outbox_id: int | None


def handle_checkin(*, session: Session, participant: ParticipantRow | Participant,
                   text: str, now: datetime) -> CheckinResult | None:
    """The runtime's hook: if ``text`` is the code of a session open for check-in, record
    attendance (walk-ins too), queue a welcome reply and return the result; else None (the
    message then goes to the resident's flow as usual)."""
    now = aware(now)
    code = checkin_code(text)
    if code is None:
        return None
    candidates = session.exec(select(DialogueSession).where(
        DialogueSession.checkin_code == code, DialogueSession.status == "scheduled",
        col(DialogueSession.starts_at) <= now + CHECKIN_EARLY,
        col(DialogueSession.ends_at) >= now - CHECKIN_LATE,
    )).all()
    for ds in candidates:
        if match_checkin(ds, participant, text, now):
            assert ds.id is not None and participant.id is not None
            first = check_in(session=session, ds=ds, participant_id=participant.id, now=now)
            # a repeated code (the resident wasn't sure it worked) gets its own answer; the
            # runtime has already dropped a redelivery of the same message before this hook
            row = repo.enqueue_outbox(
                session=session, participant=participant, channel=participant.channel,
                body=session_text("checked_in" if first else "checked_in_again",
                                   participant.language, ds), kind="reply",
                dedupe_key=dedupe_key(ds, participant.id, "checkin" if first
                                      else f"checkin-again:{now.isoformat()}"), now=now,
            )
            return CheckinResult(ds.id, first, row.id if row is not None else None)
    return None


def check_in(*, session: Session, ds: DialogueSession, participant_id: int,
             now: datetime) -> bool:
    """Record attendance (a walk-in gets an RSVP row). Returns True the first time."""
    assert ds.id is not None
    rsvp = session.exec(select(SessionRsvp).where(
        SessionRsvp.session_id == ds.id, SessionRsvp.participant_id == participant_id)).first()
    if rsvp is None:
        rsvp = SessionRsvp(session_id=ds.id, participant_id=participant_id, status="walk_in")
    if rsvp.checked_in_at is not None:
        return False
    rsvp.checked_in_at = aware(now)
    session.add(rsvp)
    session.flush()
    return True


def check_in_number(*, session: Session, ds: DialogueSession, address: str, secret: bytes,
                    now: datetime) -> bool:
    """The mediator checks someone in by phone number. Only a resident engage already knows
    (they texted us) can be checked in: a mistyped number is reported, never created, so
    nothing is ever queued to a number that did not agree to it. Returns True the first time."""
    from engage.privacy import normalize_address, participant_key

    if ds.status != "scheduled":
        raise UserError(f"session {ds.id} is {ds.status}")
    normalized = normalize_address("sms", address)
    participant = repo.get_participant(session=session, channel="sms",
                                       key=participant_key(secret, "sms", normalized))
    tail = normalized[-4:]
    if participant is None or participant.erased_at is not None or participant.id is None:
        raise UserError(f"no resident with the number ending {tail} has texted engage: check "
                        "the number, or ask them to text the check-in code "
                        f"{ds.checkin_code}; nothing was recorded")
    if participant.opted_out:
        raise UserError(f"the resident with the number ending {tail} has opted out; "
                        "nothing was recorded")
    return check_in(session=session, ds=ds, participant_id=participant.id, now=now)
