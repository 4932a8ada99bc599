"""Mediators' dialogue sessions: invitations, RSVPs with a waitlist, reminders, check-in,
feedback, and the mediator's (time-limited) view of who is coming.

Invitations run the ``dialogue_rsvp`` flow (kind ``invitation``, key
``dialogue:{sid}:p:{pid}:invite``) for residents who opted into dialogue invitations
(``consent_dialogue == 'granted'``) in the session's area, on every channel they use. The tick
(``run_dialogues``) reads each invitation run's ``rsvp`` result, seats "yes" answers up to the
capacity, waitlists the rest in answer order, and promotes from the waitlist whenever a seat
frees up (a "no", an opt-out). Reminders go 24 h and 2 h before the start, outside the
resident's quiet hours and never at or after the start; ``session_feedback`` goes to attendees
an hour after the end. Every outbound row has a unique dedupe key, so ticks are idempotent.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, true, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engage.config import Settings
from engage.errors import UserError
from engage.flow.templating import fill
from engage.scheduling.campaigns import RunStarter
from engage.scheduling.clock import (
    WHEN_LANGUAGES,
    aware,
    is_quiet,
    quiet_ends,
    session_reminder_slot,
    when_text,
    zone,
    zone_name_ok,
)
from engage.scheduling.places import known_place
from engage.storage import repo
from engage.storage.db import session_scope
from engage.storage.models import Outbox, Participant, Run
from engage.storage.scheduling_models import DialogueSession, SessionRsvp

log = logging.getLogger(__name__)

RSVP_FLOW = "dialogue_rsvp"
FEEDBACK_FLOW = "session_feedback"
FEEDBACK_DELAY = timedelta(hours=1)
FEEDBACK_WINDOW = timedelta(days=7)  # after this, an unsent feedback request is dropped
AUTO_CLOSE_AFTER = timedelta(hours=24)  # contact details stay visible this long after the end
CHECKIN_EARLY = timedelta(hours=1)
CHECKIN_LATE = timedelta(hours=1)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 5
SEATED = ("yes",)
REMINDED = ("yes", "maybe")
_CHECKIN_PREFIX = re.compile(
    r"^(check\s*-?\s*in|checkin|registro|llegue|llegué|code|codigo|código)\b", re.IGNORECASE
)

TEXTS: dict[str, dict[str, str]] = {
    "reminder": {
        "en": "Reminder: {title} is {when} at {place}. See you there!",
        "es": "Recordatorio: {title} es el {when} en {place}. ¡Le esperamos!",
    },
    "waitlisted": {
        "en": "{title} is full right now, so you are on the waitlist. We'll let you know if a "
              "seat opens up.",
        "es": "{title} está lleno por ahora; está en la lista de espera. Le avisaremos si se "
              "libera un lugar.",
    },
    "promoted": {
        "en": "Good news: a seat opened up for {title}, {when} at {place}. It's yours!",
        "es": "Buenas noticias: se liberó un lugar para {title}, el {when} en {place}. ¡Es suyo!",
    },
    "cancelled": {
        "en": "{title} ({when}) has been cancelled. Sorry for the change; we'll invite you to "
              "the next one.",
        "es": "{title} ({when}) se canceló. Disculpe el cambio; le invitaremos a la próxima.",
    },
    "checked_in": {
        "en": "Welcome to {title}! You're checked in.",
        "es": "¡Bienvenido/a a {title}! Su llegada quedó registrada.",
    },
    "checked_in_again": {
        "en": "You're already checked in to {title}. Welcome!",
        "es": "Su llegada a {title} ya quedó registrada. ¡Bienvenido/a!",
    },
}


def _text(name: str, language: str, **values: str) -> str:
    table = TEXTS[name]
    return fill(table.get(language, table["en"]), values)


def _session_text(name: str, language: str, ds: DialogueSession) -> str:
    return _text(name, language, **_values(ds, language))


def format_when(ds: DialogueSession, language: str = "en") -> str:
    """The start in the session's own zone and the resident's language (``clock.when_text``):
    "Tue Jul 7, 6:00 PM", "martes 7 de julio, 6:00 p. m."."""
    return when_text(ds.starts_at.astimezone(zone(ds.timezone)), language)


def when_context(ds: DialogueSession) -> dict[str, str]:
    """``session_when`` for a flow's context, with a variant per language the flows speak
    (``session_when_es``: the templating picks the run's language)."""
    return {"session_when": format_when(ds),
            **{f"session_when_{lang}": format_when(ds, lang) for lang in WHEN_LANGUAGES}}


def _values(ds: DialogueSession, language: str = "en") -> dict[str, str]:
    return {"title": ds.title, "when": format_when(ds, language), "place": ds.place}


# --- sessions ----------------------------------------------------------------------------


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


def create_session(*, session: Session, settings: Settings, title: str, area: str, place: str,
                   starts_at: datetime, ends_at: datetime, capacity: int, mediator: str,
                   now: datetime, description: str = "", timezone: str | None = None
                   ) -> DialogueSession:
    """Validate and store a session with a fresh check-in code."""
    now, starts_at, ends_at = aware(now), aware(starts_at), aware(ends_at)
    problems = []
    if not title.strip():
        problems.append("a title is required")
    if not area.strip():
        problems.append("an area is required")
    if not mediator.strip():
        problems.append("a mediator is required")
    if ends_at <= starts_at:
        problems.append("the end must be after the start")
    if starts_at <= now:
        problems.append("the start must be in the future")
    if capacity < 1:
        problems.append("capacity must be at least 1")
    tz = timezone or settings.timezone
    if not zone_name_ok(tz):
        problems.append(f"unknown time zone {tz!r}")
    if area.strip():
        try:
            area = known_place(settings, area)
        except UserError as exc:
            problems.append(str(exc))
    if problems:
        raise UserError("; ".join(problems))
    open_codes = set(session.exec(
        select(DialogueSession.checkin_code).where(DialogueSession.status == "scheduled")
    ).all())
    code = new_checkin_code()
    while code in open_codes:
        code = new_checkin_code()
    ds = DialogueSession(title=title.strip(), description=description, area=area.strip(),
                         place=place.strip(), starts_at=starts_at, ends_at=ends_at, timezone=tz,
                         capacity=capacity, mediator=mediator.strip(), checkin_code=code,
                         created_at=now)
    session.add(ds)
    session.flush()
    _audit(session, f"mediator:{ds.mediator}", "dialogue.created", ds, now, {"area": ds.area})
    return ds


def get_session(*, session: Session, session_id: int, lock: bool = False) -> DialogueSession:
    stmt = select(DialogueSession).where(DialogueSession.id == session_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    ds = session.exec(stmt).first()
    if ds is None:
        raise UserError(f"no dialogue session with id {session_id}")
    return ds


def list_sessions(*, session: Session, mediator: str | None = None,
                  include_closed: bool = True) -> list[DialogueSession]:
    stmt = select(DialogueSession).order_by(col(DialogueSession.starts_at))
    if mediator:
        stmt = stmt.where(DialogueSession.mediator == mediator)
    if not include_closed:
        stmt = stmt.where(DialogueSession.status == "scheduled")
    return list(session.exec(stmt).all())


def audience_size(*, session: Session, ds: DialogueSession) -> int:
    """Residents an invitation would reach now (opted in, in the area): 0 deserves a word."""
    found = _audience(ds).subquery()
    return int(session.execute(select(func.count()).select_from(found)).scalar_one())


def _audience(ds: DialogueSession) -> Any:
    area = ds.area.lower()
    return select(Participant).where(
        col(Participant.consent_dialogue) == "granted",
        col(Participant.opted_out).is_(False),
        col(Participant.erased_at).is_(None),
        col(Participant.address_enc).is_not(None),
        or_(func.lower(Participant.area) == area, func.lower(Participant.district) == area),
    ).order_by(col(Participant.id))


@dataclass(frozen=True)
class InviteReport:
    """What ``dialogue invite`` did: invitations queued, and those not sent because quiet
    hours or the send rate would have delivered them after the start."""

    queued: int = 0
    late_quiet: int = 0
    late_rate: int = 0
    quiet_until: datetime | None = None  # when the quiet hours holding them end

    @property
    def late(self) -> int:
        return self.late_quiet + self.late_rate


def invite(*, session: Session, starter: RunStarter, session_id: int, now: datetime) -> int:
    """Send the ``dialogue_rsvp`` invitation to every opted-in resident of the area not yet
    invited (run it again later to reach newcomers). Returns invitations started."""
    return invite_report(session=session, starter=starter, session_id=session_id,
                         now=now).queued


def _send_rate(settings: Settings, channel: str) -> float:
    from engage.outbox import TELEGRAM_RATE

    return settings.sms_rate if channel == "sms" else TELEGRAM_RATE


def _backlog(session: Session, channel: str, now: datetime) -> int:
    """Messages already due on ``channel``: new invitations queue behind them."""
    return int(session.execute(select(func.count()).select_from(Outbox).where(
        Outbox.channel == channel, col(Outbox.status).in_(("pending", "claimed")),
        col(Outbox.not_before) <= now)).scalar_one())


def invite_report(*, session: Session, starter: RunStarter, session_id: int, now: datetime,
                  settings: Settings | None = None) -> InviteReport:
    """``invite``, saying how many invitations were left out because they could not arrive
    before the start: held by the resident's quiet hours until after it, or behind the send
    rate's queue. Those are not sent at all (an invitation to something already under way
    only confuses); each run of ``invite`` tries again."""
    from engage.config import get_settings

    settings = settings or get_settings()
    now = aware(now)
    ds = get_session(session=session, session_id=session_id, lock=True)
    if ds.status != "scheduled":
        raise UserError(f"session {session_id} is {ds.status}; invitations are closed")
    if now >= ds.starts_at:
        raise UserError(f"session {session_id} has already started")
    assert ds.id is not None
    invited_ids = set(session.exec(
        select(SessionRsvp.participant_id).where(SessionRsvp.session_id == ds.id)
    ).all())
    context = {"session_title": ds.title, **when_context(ds), "session_place": ds.place}
    count = late_quiet = late_rate = 0
    quiet_until: datetime | None = None
    queue = {channel: _backlog(session, channel, now) for channel in ("sms", "telegram")}
    for participant in session.exec(_audience(ds)).all():
        assert participant.id is not None
        if participant.id in invited_ids:
            continue
        tz = participant.timezone or settings.timezone
        sends_at = quiet_ends(now, tz, settings.quiet_window)
        if sends_at >= ds.starts_at:
            late_quiet += 1
            quiet_until = min(quiet_until or sends_at, sends_at)
            continue
        rate = _send_rate(settings, participant.channel)
        waiting = queue.get(participant.channel, 0)
        if rate > 0 and sends_at + timedelta(seconds=waiting / rate) >= ds.starts_at:
            late_rate += 1
            continue
        run = starter.start_run(
            session=session, participant=participant, flow_id=RSVP_FLOW, kind="invitation",
            dedupe_key=f"dialogue:{ds.id}:p:{participant.id}:invite", now=now,
            context=context, session_id=ds.id,
        )
        if run is None:
            continue
        session.add(SessionRsvp(session_id=ds.id, participant_id=participant.id,
                                status="invited", run_id=run.id, invited_at=now))
        queue[participant.channel] = queue.get(participant.channel, 0) + 1
        count += 1
    ds.invited_at = ds.invited_at or now
    session.add(ds)
    session.flush()
    _audit(session, f"mediator:{ds.mediator}", "dialogue.invited", ds, now,
           {"count": count, "late_quiet_hours": late_quiet, "late_send_rate": late_rate})
    return InviteReport(count, late_quiet, late_rate, quiet_until)


def cancel_session(*, session: Session, session_id: int, now: datetime,
                   actor: str = "mediator") -> DialogueSession:
    """Cancel: queued invitations and reminders are dropped, people who planned to come are
    told, and no reminder or feedback will ever go out for it."""
    now = aware(now)
    ds = get_session(session=session, session_id=session_id, lock=True)
    if ds.status == "cancelled":
        return ds
    if ds.status == "closed":
        raise UserError(f"session {session_id} is already closed")
    ds.status = "cancelled"
    ds.cancelled_at = now
    session.add(ds)
    _drop_queued(session, ds, "%")
    _end_invitation_runs(session, ds, now)
    if now < ds.starts_at:
        for rsvp, participant in _rsvps_with_participants(session, ds, ("yes", "maybe",
                                                                         "waitlisted")):
            repo.enqueue_outbox(
                session=session, participant=participant, channel=participant.channel,
                body=_session_text("cancelled", participant.language, ds),
                kind="invitation", dedupe_key=_key(ds, rsvp.participant_id, "cancelled"),
                now=now,
            )
    _audit(session, actor, "dialogue.cancelled", ds, now, {})
    return ds


def close_session(*, session: Session, session_id: int, now: datetime,
                  actor: str = "mediator") -> DialogueSession:
    """Close: the mediator can no longer see contact details; feedback still goes out."""
    now = aware(now)
    ds = get_session(session=session, session_id=session_id, lock=True)
    if ds.status == "closed":
        return ds
    if ds.status == "cancelled":
        raise UserError(f"session {session_id} was cancelled")
    ds.status = "closed"
    ds.closed_at = now
    session.add(ds)
    _drop_queued(session, ds, "invite")
    _end_invitation_runs(session, ds, now)
    _audit(session, actor, "dialogue.closed", ds, now, {})
    return ds


# --- RSVPs, seats and the waitlist -------------------------------------------------------


def seats_taken(session: Session, session_id: int) -> int:
    return int(session.execute(
        select(func.count()).select_from(SessionRsvp).where(
            SessionRsvp.session_id == session_id, col(SessionRsvp.status).in_(SEATED))
    ).scalar_one())


def record_rsvp(*, session: Session, session_id: int, participant_id: int, answer: str,
                now: datetime, notify: bool = True) -> SessionRsvp:
    """Apply a yes/no/maybe (from the flow, or entered by the mediator): "yes" takes a seat or
    a waitlist place; giving up a seat promotes the next person on the waitlist. ``notify``:
    text a waitlisted resident (False when the flow's own reply already told them)."""
    now = aware(now)
    if answer not in ("yes", "no", "maybe"):
        raise UserError(f"RSVP must be yes, no or maybe, not {answer!r}")
    ds = get_session(session=session, session_id=session_id, lock=True)
    rsvp = session.exec(select(SessionRsvp).where(
        SessionRsvp.session_id == session_id, SessionRsvp.participant_id == participant_id)
    ).first()
    if rsvp is None:
        raise UserError(f"participant {participant_id} was not invited to session {session_id}")
    _apply(session, ds, rsvp, answer, now, notify=notify)
    promote(session=session, ds=ds, now=now)
    return rsvp


def rsvp_seat(*, session: Session, session_id: int, participant_id: int) -> str:
    """What a "yes" from this resident gets right now: "seat" or "waitlist" (their current
    place when they already have one). Locks the session row (PostgreSQL), so the answer
    recorded later in the same transaction gets exactly this."""
    ds = get_session(session=session, session_id=session_id, lock=True)
    assert ds.id is not None
    status = session.exec(select(SessionRsvp.status).where(
        SessionRsvp.session_id == ds.id, SessionRsvp.participant_id == participant_id)).first()
    if status in SEATED:
        return "seat"
    if status == "waitlisted":
        return "waitlist"
    return "seat" if seats_taken(session, ds.id) < ds.capacity else "waitlist"


def rsvp_from_flow(*, session: Session, session_id: int, participant_id: int, answer: str,
                   now: datetime) -> None:
    """The runtime's hook: an invitation run recorded ``rsvp``; apply it in the same
    transaction as the reply that tells the resident, so the first reply is the truth."""
    if answer not in ("yes", "no", "maybe"):
        return
    rsvp = session.exec(select(SessionRsvp).where(
        SessionRsvp.session_id == session_id, SessionRsvp.participant_id == participant_id)
    ).first()
    if rsvp is None or rsvp.status in ("opted_out", "late"):
        return
    record_rsvp(session=session, session_id=session_id, participant_id=participant_id,
                answer=answer, now=now, notify=False)


def _apply(session: Session, ds: DialogueSession, rsvp: SessionRsvp, answer: str,
           now: datetime, *, notify: bool = True) -> None:
    assert ds.id is not None
    if rsvp.status == answer or (answer == "yes" and rsvp.status == "waitlisted"):
        return
    if rsvp.status == "opted_out":
        return
    rsvp.responded_at = now
    if answer == "yes":
        session.flush()
        if seats_taken(session, ds.id) < ds.capacity:
            rsvp.status = "yes"
        else:
            rsvp.status = "waitlisted"
            participant = session.get(Participant, rsvp.participant_id)
            if participant is not None and notify:
                repo.enqueue_outbox(
                    session=session, participant=participant, channel=participant.channel,
                    body=_session_text("waitlisted", participant.language, ds),
                    kind="reply", dedupe_key=_key(ds, rsvp.participant_id, "waitlisted"),
                    now=now,
                )
    else:
        rsvp.status = answer
    session.add(rsvp)
    session.flush()


def promote(*, session: Session, ds: DialogueSession, now: datetime) -> list[SessionRsvp]:
    """Fill free seats from the waitlist in answer order (before the start only)."""
    assert ds.id is not None
    promoted: list[SessionRsvp] = []
    if ds.status != "scheduled" or now >= ds.starts_at:
        return promoted
    session.flush()
    free = ds.capacity - seats_taken(session, ds.id)
    if free <= 0:
        return promoted
    waiting = session.exec(
        select(SessionRsvp).where(SessionRsvp.session_id == ds.id,
                                  SessionRsvp.status == "waitlisted")
        .order_by(col(SessionRsvp.responded_at), col(SessionRsvp.id)).limit(free)
    ).all()
    for rsvp in waiting:
        rsvp.status = "yes"
        rsvp.promoted_at = now
        session.add(rsvp)
        promoted.append(rsvp)
        participant = session.get(Participant, rsvp.participant_id)
        if participant is not None:
            repo.enqueue_outbox(
                session=session, participant=participant, channel=participant.channel,
                body=_session_text("promoted", participant.language, ds),
                kind="invitation", dedupe_key=_key(ds, rsvp.participant_id, "promoted"), now=now,
            )
    session.flush()
    return promoted


def sync_rsvps(*, session: Session, ds: DialogueSession, now: datetime) -> int:
    """Read answers from the invitation runs and opt-outs from participants. Returns changes."""
    assert ds.id is not None
    changes = 0
    rows = session.exec(
        select(SessionRsvp, Run, Participant)
        .join(Run, col(Run.id) == col(SessionRsvp.run_id))
        .join(Participant, col(Participant.id) == col(SessionRsvp.participant_id))
        .where(SessionRsvp.session_id == ds.id,
               col(SessionRsvp.status).in_(("invited", "yes", "maybe", "waitlisted")))
        .order_by(col(Run.updated_at), col(SessionRsvp.id))
    ).all()
    for rsvp, run, participant in rows:
        if participant.opted_out or participant.erased_at is not None:
            rsvp.status = "opted_out"
            session.add(rsvp)
            changes += 1
            continue
        results = _results(run)
        needs = results.get("needs")
        if needs and rsvp.needs != needs:
            rsvp.needs = str(needs)[:120]
            session.add(rsvp)
        answer = results.get("rsvp")
        if rsvp.status == "invited" and answer in ("yes", "no", "maybe"):
            _apply(session, ds, rsvp, str(answer), now)
            changes += 1
    promote(session=session, ds=ds, now=now)
    return changes


def _results(run: Run) -> dict[str, Any]:
    try:
        state = json.loads(run.state)
    except (TypeError, ValueError):
        return {}
    results = state.get("results") if isinstance(state, dict) else None
    return results if isinstance(results, dict) else {}


# --- check-in ----------------------------------------------------------------------------


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


def match_checkin(ds: DialogueSession, participant: Participant, text: str,
                  now: datetime) -> bool:
    """Pure: is ``text`` this session's check-in code, sent while check-in is open?"""
    if participant.erased_at is not None or len(text or "") > 40:
        return False
    return checkin_open(ds, now) and normalize_code(text) == ds.checkin_code


@dataclass(frozen=True)
class CheckinResult:
    session_id: int
    first_time: bool
    outbox_id: int | None


def handle_checkin(*, session: Session, participant: Participant, text: str,
                   now: datetime) -> CheckinResult | None:
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
                body=_session_text("checked_in" if first else "checked_in_again",
                                   participant.language, ds), kind="reply",
                dedupe_key=_key(ds, participant.id, "checkin" if first
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


# --- the mediator's view -----------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    participant_key: str
    channel: str
    address: str
    language: str
    needs: str | None
    checked_in: bool


def mediator_contacts(*, session: Session, session_id: int, mediator: str, now: datetime,
                      secret: bytes) -> list[Contact]:
    """Contact details of the people who said yes, for the session's own mediator only, and
    only while the session is open. Every look is audited (count only, no addresses)."""
    from engage.privacy import decrypt_address

    now = aware(now)
    ds = get_session(session=session, session_id=session_id)
    if ds.mediator != mediator:
        raise UserError(f"only the session's mediator can see its contacts (session {session_id})")
    if ds.status != "scheduled":
        raise UserError(f"session {session_id} is {ds.status}; contact details are no longer "
                        "available")
    contacts = []
    for rsvp, participant in _rsvps_with_participants(session, ds, SEATED):
        if participant.address_enc is None:
            continue
        contacts.append(Contact(participant.key, participant.channel,
                                decrypt_address(secret, participant.address_enc),
                                participant.language, rsvp.needs, rsvp.checked_in_at is not None))
    _audit(session, f"mediator:{mediator}", "dialogue.contacts_viewed", ds, now,
           {"count": len(contacts)})
    return contacts


@dataclass(frozen=True)
class SessionStats:
    counts: dict[str, int] = field(default_factory=dict)
    attended: int = 0
    feedback_sent: int = 0
    feedback_completed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**{k: self.counts.get(k, 0) for k in ("invited", "yes", "no", "maybe",
                                                      "waitlisted", "opted_out", "walk_in",
                                                      "late")},
                "attended": self.attended, "feedback_sent": self.feedback_sent,
                "feedback_completed": self.feedback_completed}


def session_stats(*, session: Session, session_id: int) -> SessionStats:
    get_session(session=session, session_id=session_id)
    counts = {str(s): int(n) for s, n in session.execute(
        select(SessionRsvp.status, func.count()).where(SessionRsvp.session_id == session_id)
        .group_by(SessionRsvp.status)).all()}
    attended = session.execute(select(func.count()).select_from(SessionRsvp).where(
        SessionRsvp.session_id == session_id, col(SessionRsvp.checked_in_at).is_not(None))
    ).scalar_one()
    sent = session.execute(select(func.count()).select_from(SessionRsvp).where(
        SessionRsvp.session_id == session_id, col(SessionRsvp.feedback_run_id) > 0)
    ).scalar_one()  # -1: it could not be sent (no consent, opted out)
    completed = session.execute(select(func.count()).select_from(SessionRsvp).join(
        Run, col(Run.id) == col(SessionRsvp.feedback_run_id)).where(
        SessionRsvp.session_id == session_id, Run.status == "completed")).scalar_one()
    return SessionStats(counts, int(attended), int(sent), int(completed))


# --- the tick ----------------------------------------------------------------------------


@dataclass
class DialogueTickReport:
    rsvp_changes: int = 0
    reminders: int = 0
    feedback: int = 0
    late: int = 0  # queued messages dropped because they could no longer arrive in time
    closed: list[int] = field(default_factory=list)


def run_dialogues(*, engine: Engine, starter: RunStarter, settings: Settings,
                  now: datetime) -> DialogueTickReport:
    """RSVPs, promotions, reminders, feedback and auto-close for every live session."""
    now = aware(now)
    report = DialogueTickReport()
    with session_scope(engine) as session:
        ids = list(session.exec(select(DialogueSession.id).where(
            or_(col(DialogueSession.status) == "scheduled",
                (col(DialogueSession.status) == "closed")
                & (col(DialogueSession.ends_at) >= now - FEEDBACK_WINDOW)))
            .order_by(col(DialogueSession.id))).all())
    for session_id in ids:
        assert session_id is not None
        with session_scope(engine) as session:
            ds = get_session(session=session, session_id=session_id, lock=True)
            if ds.status == "scheduled":
                report.late += drop_late(session=session, ds=ds, now=now)
                report.rsvp_changes += sync_rsvps(session=session, ds=ds, now=now)
                report.reminders += _remind(session, ds, settings, now)
            report.feedback += _feedback(session, ds, starter, now)
            if ds.status == "scheduled" and now >= ds.ends_at + AUTO_CLOSE_AFTER:
                close_session(session=session, session_id=session_id, now=now, actor="scheduler")
                report.closed.append(session_id)
    return report


def _remind(session: Session, ds: DialogueSession, settings: Settings, now: datetime) -> int:
    if now >= ds.starts_at:
        _drop_queued(session, ds, "reminder:%")  # never deliver a reminder after the start
        return 0
    slot = session_reminder_slot(starts_at=ds.starts_at, now=now)
    if slot is None:
        return 0
    column = SessionRsvp.reminder_24h_at if slot == "24h" else SessionRsvp.reminder_2h_at
    sent = 0
    for rsvp, participant in _rsvps_with_participants(session, ds, REMINDED,
                                                      col(column).is_(None)):
        if is_quiet(now, participant.timezone or settings.timezone, settings.quiet_window):
            continue  # a later tick sends it once the resident's night is over, if still due
        row = repo.enqueue_outbox(
            session=session, participant=participant, channel=participant.channel,
            body=_session_text("reminder", participant.language, ds), kind="reminder",
            dedupe_key=_key(ds, rsvp.participant_id, f"reminder:{slot}"), now=now,
            run_id=rsvp.run_id, quiet_window=settings.quiet_window, timezone=settings.timezone,
        )
        setattr(rsvp, "reminder_24h_at" if slot == "24h" else "reminder_2h_at", now)
        session.add(rsvp)
        sent += row is not None
    return sent


def _feedback(session: Session, ds: DialogueSession, starter: RunStarter,
              now: datetime) -> int:
    if ds.status == "cancelled" or not (ds.ends_at + FEEDBACK_DELAY <= now
                                        < ds.ends_at + FEEDBACK_WINDOW):
        return 0
    assert ds.id is not None
    count = 0
    rows = session.exec(
        select(SessionRsvp, Participant)
        .join(Participant, col(Participant.id) == col(SessionRsvp.participant_id))
        .where(SessionRsvp.session_id == ds.id, col(SessionRsvp.checked_in_at).is_not(None),
               col(SessionRsvp.feedback_run_id).is_(None))
        .order_by(col(SessionRsvp.id))
    ).all()
    for rsvp, participant in rows:
        run = starter.start_run(
            session=session, participant=participant, flow_id=FEEDBACK_FLOW, kind="campaign",
            dedupe_key=_key(ds, rsvp.participant_id, "feedback"), now=now,
            context={"session_title": ds.title}, session_id=ds.id,
        )
        rsvp.feedback_run_id = run.id if run is not None else -1  # -1: could not be sent
        session.add(rsvp)
        count += run is not None
    return count


LATE_REASON = "too late: would arrive after the session starts"


def drop_late(*, session: Session, ds: DialogueSession, now: datetime) -> int:
    """Invitations, RSVP prompts (the flow's own reminders), promotions and reminders that
    can no longer arrive before the start are cancelled with the reason recorded; an
    invitation that never reached its resident ends, and their RSVP is marked ``late``, so a
    later text from them is not read as an answer to a question they never saw. Returns the
    messages dropped."""
    assert ds.id is not None
    rsvp_runs = select(SessionRsvp.run_id).where(SessionRsvp.session_id == ds.id,
                                                 col(SessionRsvp.run_id).is_not(None))
    due = (col(Outbox.not_before) >= ds.starts_at) if now < ds.starts_at else true()
    dropped = session.execute(
        update(Outbox)
        .where(col(Outbox.status) == "pending", due,
               col(Outbox.kind).in_(("invitation", "reminder")),
               or_(col(Outbox.run_id).in_(rsvp_runs),
                   col(Outbox.dedupe_key).like(f"dialogue:{ds.id}:p:%")))
        .values(status="cancelled", error=LATE_REASON)
        .execution_options(synchronize_session=False)
    ).rowcount or 0
    if not dropped and now < ds.starts_at:
        return 0
    # reached: something of the run was sent; pending: something may still be
    live = exists().where(col(Outbox.run_id) == col(Run.id),
                          col(Outbox.status).not_in(("cancelled", "failed")))
    unreached = session.exec(
        select(SessionRsvp, Run).join(Run, col(Run.id) == col(SessionRsvp.run_id))
        .where(SessionRsvp.session_id == ds.id, SessionRsvp.status == "invited", ~live)
    ).all()
    for rsvp, run in unreached:
        rsvp.status = "late"
        session.add(rsvp)
        if run.status == repo.ACTIVE_RUN:
            repo.end_run(run=run, status="expired", now=now)
            session.add(run)
    if now >= ds.starts_at:  # nobody answers an invitation to a session under way
        _end_invitation_runs(session, ds, now)
    session.flush()
    if dropped:
        _audit(session, "scheduler", "dialogue.late_dropped", ds, now, {"count": dropped})
    return int(dropped)


# --- helpers -----------------------------------------------------------------------------


def _key(ds: DialogueSession, participant_id: int, what: str) -> str:
    return f"dialogue:{ds.id}:p:{participant_id}:{what}"


def _rsvps_with_participants(session: Session, ds: DialogueSession, statuses: tuple[str, ...],
                             *extra: Any) -> list[tuple[SessionRsvp, Participant]]:
    rows = session.exec(
        select(SessionRsvp, Participant)
        .join(Participant, col(Participant.id) == col(SessionRsvp.participant_id))
        .where(SessionRsvp.session_id == ds.id, col(SessionRsvp.status).in_(statuses), *extra)
        .order_by(col(SessionRsvp.id))
    ).all()
    return [(r, p) for r, p in rows]


def _end_invitation_runs(session: Session, ds: DialogueSession, now: datetime) -> None:
    """Invitation runs still waiting for an answer end: a reply after this goes nowhere near
    a seat (the session started, was cancelled or closed)."""
    for run in session.exec(select(Run).where(
            Run.session_id == ds.id, Run.flow_id == RSVP_FLOW,
            Run.status == repo.ACTIVE_RUN)).all():
        repo.end_run(run=run, status="expired", now=now)
        session.add(run)


def _drop_queued(session: Session, ds: DialogueSession, what: str) -> None:
    """Cancel unsent invitation/reminder rows for this session (``what`` is a LIKE tail)."""
    session.execute(
        update(Outbox)
        .where(col(Outbox.dedupe_key).like(f"dialogue:{ds.id}:p:%:{what}%"),
               col(Outbox.kind).in_(("invitation", "reminder")),
               col(Outbox.status).in_(("pending", "held")))
        .values(status="cancelled", error=f"dialogue session {ds.status}")
        .execution_options(synchronize_session=False)
    )


def _audit(session: Session, actor: str, action: str, ds: DialogueSession, now: datetime,
           details: dict[str, Any]) -> None:
    from engage import audit

    session.flush()
    audit.append(session=session, actor=actor, action=action,
                 subject=f"dialogue_session:{ds.id}", details=details, now=aware(now))
