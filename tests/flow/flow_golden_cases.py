"""Scripted conversations for the golden tests: (flow, language, context, replies).

``/wait`` lets time pass until the run's ``wake_at`` (reminder, timeout path or expiry).
Add a case here, then run ``ENGAGE_REGEN_GOLDEN=1 pytest tests/flow/test_flow_golden.py``
and review the new file under tests/golden/ before committing it.
"""

from __future__ import annotations

from typing import Any

SESSION = {
    "session_title": "Eastern District dialogue",
    "session_when": "Thu Mar 12, 6pm",
    "session_place": "Patterson Park library",
}

SAT_HAPPY_EN = ["yes", "1", "Federal Hill", "4", "2 - unsafe", "agree", "Strongly disagree",
                "called 911", "5", "More street lights on my block", "yes", "25-34", "black",
                "yes"]

CASES: dict[str, dict[str, Any]] = {
    # satisfaction
    "satisfaction_happy_en": {"flow": "satisfaction", "replies": SAT_HAPPY_EN},
    "satisfaction_happy_es": {
        "flow": "satisfaction", "language": "es",
        "replies": ["sí", "21224", "cuatro", "3", "de acuerdo", "5", "2", "1",
                    "Más patrullas a pie", "no", "6", "hispano", "sí"],
    },
    "satisfaction_switch_to_spanish": {
        "flow": "satisfaction",
        "replies": ["ESPAÑOL", "si", "Canton", "5", "4", "4", "4", "5", "prefiero no decir",
                    "no", "saltar", "saltar", "no"],
    },
    "satisfaction_declined": {"flow": "satisfaction", "replies": ["No thanks"]},
    "satisfaction_declined_es": {"flow": "satisfaction", "language": "es", "replies": ["no"]},
    "satisfaction_no_contact": {
        "flow": "satisfaction",
        "replies": ["y", "english", "sandtown", "1", "1", "1", "2", "none", "skip", "no",
                    "prefer not to say", "skip", "no"],
    },
    "satisfaction_invalid_replies": {
        "flow": "satisfaction",
        "replies": ["maybe", "", "👍", "1", "Narnia", "21299", "fedral hil", "yes", "6", "0", "🙂",
                    "three", "😀", "x" * 2000, "five", "4", "purple", "3", "4", "2",
                    "", "yes", "12", "7", "banana", "no", "skip", "no"],
    },
    "satisfaction_consent_unclear": {
        "flow": "satisfaction", "replies": ["what is this", "?", "who are you"],
    },
    "satisfaction_reminder_then_expiry": {
        "flow": "satisfaction", "replies": ["/wait", "/wait"],
    },
    "satisfaction_reminder_then_yes": {
        "flow": "satisfaction", "replies": ["/wait", "yes", "1", "Hampden", "/wait", "4"],
    },
    "satisfaction_text_timeout_path": {
        "flow": "satisfaction",
        "replies": ["yes", "1", "21218", "5", "5", "5", "5", "5", "/wait", "yes", "skip", "skip",
                    "no"],
    },
    # dialogue_rsvp
    "rsvp_yes_with_needs": {
        "flow": "dialogue_rsvp", "context": SESSION, "replies": ["Yes!", "1 and 3"],
    },
    "rsvp_no": {"flow": "dialogue_rsvp", "context": SESSION, "replies": ["can't make it"]},
    "rsvp_unclear_then_yes": {  # the re-prompt repeats the invitation's YES, NO or MAYBE
        "flow": "dialogue_rsvp", "context": SESSION,
        "replies": ["what time again?", "sure", "4"],
    },
    "rsvp_maybe_es": {
        "flow": "dialogue_rsvp", "language": "es", "context": SESSION,
        "replies": ["tal vez", "guardería y transporte"],
    },
    "rsvp_none_is_exclusive": {
        "flow": "dialogue_rsvp", "context": SESSION, "replies": ["y", "1, 4", "none"],
    },
    "rsvp_reminder": {
        "flow": "dialogue_rsvp", "context": SESSION, "replies": ["/wait", "yes", "interpreter"],
    },
    "rsvp_expired": {"flow": "dialogue_rsvp", "context": SESSION, "replies": ["/wait", "/wait"]},
    "rsvp_waitlisted_es": {  # engage sets context.seat before reading the answer
        "flow": "dialogue_rsvp", "language": "es", "context": {**SESSION, "seat": "waitlist"},
        "replies": ["si", "nada"],
    },
    # session_feedback
    "feedback_happy_en": {
        "flow": "session_feedback", "context": SESSION,
        "replies": ["4", "yes", "Youth programs and summer jobs"],
    },
    "feedback_es": {
        "flow": "session_feedback", "language": "es", "context": SESSION,
        "replies": ["5 - muchísimo", "sí", "saltar"],
    },
    "feedback_invalid_then_skip": {
        "flow": "session_feedback", "context": SESSION,
        "replies": ["great", "10", "3", "kind of", "nah", "skip"],
    },
}
