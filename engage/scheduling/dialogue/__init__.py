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

Modules: ``sessions`` (create, read, cancel, close), ``invitations``, ``rsvp`` (seats and the
waitlist), ``checkin``, ``contacts`` (the mediator's view), ``stats``, and the tick's steps
``late``, ``reminders``, ``feedback`` and ``tick``; private ones hold the texts, the outbox
keys, shared reads, the session's flow runs and the audit entry.
"""

from engage.scheduling.dialogue._texts import format_when, when_context
from engage.scheduling.dialogue.checkin import (
    CheckinResult,
    check_in,
    check_in_number,
    checkin_code,
    could_be_code,
    handle_checkin,
    match_checkin,
    new_checkin_code,
)
from engage.scheduling.dialogue.contacts import Contact, mediator_contacts
from engage.scheduling.dialogue.invitations import (
    InviteReport,
    audience_size,
    invite,
    invite_report,
)
from engage.scheduling.dialogue.late import LATE_REASON
from engage.scheduling.dialogue.rsvp import (
    promote,
    record_rsvp,
    rsvp_from_flow,
    rsvp_seat,
    seats_taken,
)
from engage.scheduling.dialogue.sessions import (
    cancel_session,
    close_session,
    create_session,
    get_session,
    list_sessions,
)
from engage.scheduling.dialogue.stats import SessionStats, session_stats
from engage.scheduling.dialogue.tick import DialogueTickReport, run_dialogues
from engage.storage.tables.scheduling import RSVP_FLOW

__all__ = [
    "LATE_REASON",
    "RSVP_FLOW",
    "CheckinResult",
    "Contact",
    "DialogueTickReport",
    "InviteReport",
    "SessionStats",
    "audience_size",
    "cancel_session",
    "check_in",
    "check_in_number",
    "checkin_code",
    "close_session",
    "could_be_code",
    "create_session",
    "format_when",
    "get_session",
    "handle_checkin",
    "invite",
    "invite_report",
    "list_sessions",
    "match_checkin",
    "mediator_contacts",
    "new_checkin_code",
    "promote",
    "record_rsvp",
    "rsvp_from_flow",
    "rsvp_seat",
    "run_dialogues",
    "seats_taken",
    "session_stats",
    "when_context",
]
