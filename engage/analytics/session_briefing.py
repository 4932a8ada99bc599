"""The "this session" part of a mediator's briefing: RSVPs, attendance and what attendees
said in the feedback survey (how useful it was, whether they felt heard).

Every figure is a count of people, so it follows the same rule as every export: a count of
fewer than ``min_cell_size`` people is withheld, and complementary cells are withheld too
wherever a total would let a reader work a withheld one out (``analytics.suppression``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlmodel import col

from engage.analytics.suppression import ALL, suppress
from engage.storage.tables import Response, Run
from engage.storage.tables.scheduling import FEEDBACK_FLOW

# what the mediator reads, in the order they read it; "invited" means no reply yet
RSVP_LABELS = {"yes": "coming", "waitlisted": "on the waitlist", "maybe": "maybe",
               "no": "not coming", "invited": "awaiting reply",
               "late": "invitation could not arrive in time", "opted_out": "opted out"}
USEFULNESS = ("1", "2", "3", "4", "5")


@dataclass(frozen=True)
class Figure:
    label: str
    count: int | None  # None: withheld (a small group, or it would reveal one)


@dataclass(frozen=True)
class SessionSection:
    session_id: int
    title: str
    invited: int | None
    rsvp: list[Figure]
    walk_ins: int | None
    attended: int | None
    feedback_answered: int | None
    usefulness: list[Figure]  # 1 (not at all) .. 5 (extremely useful)
    usefulness_mean: float | None
    felt_heard: list[Figure]  # yes, no


def _line(counts: dict[str, int], k: int) -> tuple[int | None, dict[str, int | None]]:
    """A total and its parts, suppressed together."""
    cube: dict[tuple[str, ...], int] = {(name,): n for name, n in counts.items()}
    cube[(ALL,)] = sum(counts.values())
    withheld = suppress(cube, k=k).withheld
    shown = {name: (None if (name,) in withheld else n) for name, n in counts.items()}
    return (None if (ALL,) in withheld else cube[(ALL,)]), shown


def _single(n: int, k: int) -> int | None:
    return None if 0 < n < k else n


def build_session_section(engine: Engine, session_id: int, k: int) -> SessionSection:
    """Read and suppress the session's own figures (no addresses, no answers' text)."""
    from engage.storage.tables.scheduling import DialogueSession, SessionRsvp

    with engine.connect() as conn:
        title = conn.execute(select(col(DialogueSession.title)).where(
            col(DialogueSession.id) == session_id)).scalar_one()
        statuses = {str(s): int(n) for s, n in conn.execute(
            select(col(SessionRsvp.status), func.count())
            .where(col(SessionRsvp.session_id) == session_id)
            .group_by(col(SessionRsvp.status)))}
        attended = int(conn.execute(select(func.count()).select_from(SessionRsvp).where(
            col(SessionRsvp.session_id) == session_id,
            col(SessionRsvp.checked_in_at).is_not(None))).scalar_one())
        answers = conn.execute(
            select(col(Response.name), col(Response.value), func.count())
            .join(Run, col(Run.id) == col(Response.run_id))
            .where(col(Run.session_id) == session_id, col(Run.flow_id) == FEEDBACK_FLOW,
                   col(Response.name).in_(("usefulness", "felt_heard")),
                   col(Response.value).is_not(None))
            .group_by(col(Response.name), col(Response.value))).all()
        answered = int(conn.execute(
            select(func.count(func.distinct(Response.participant_id)))
            .join(Run, col(Run.id) == col(Response.run_id))
            .where(col(Run.session_id) == session_id, col(Run.flow_id) == FEEDBACK_FLOW)
        ).scalar_one())
    walk_ins = statuses.pop("walk_in", 0)
    invited, rsvp = _line({name: statuses.get(name, 0) for name in RSVP_LABELS}, k)
    useful = {v: 0 for v in USEFULNESS}
    heard = {"yes": 0, "no": 0}
    for name, value, n in answers:
        target = useful if name == "usefulness" else heard
        if str(value) in target:
            target[str(value)] += int(n)
    useful_total, useful_shown = _line(useful, k)
    _, heard_shown = _line(heard, k)
    mean = None
    if useful_total:  # published only when at least k people rated it
        mean = sum(int(v) * n for v, n in useful.items()) / useful_total
    return SessionSection(
        session_id=session_id, title=str(title), invited=invited,
        rsvp=[Figure(RSVP_LABELS[s], rsvp[s]) for s in RSVP_LABELS],
        walk_ins=_single(walk_ins, k), attended=_single(attended, k),
        feedback_answered=_single(answered, k),
        usefulness=[Figure(v, useful_shown[v]) for v in USEFULNESS], usefulness_mean=mean,
        felt_heard=[Figure(v, heard_shown[v]) for v in ("yes", "no")],
    )


def _n(value: int | None, k: int) -> str:
    return f"fewer than {k} (withheld)" if value is None else str(value)


def render_session_markdown(s: SessionSection | None, k: int) -> list[str]:
    """The section's lines for the Markdown briefing (nothing when there is no session)."""
    if s is None:
        return []
    lines = ["", f"## This session: {s.title} (session {s.session_id})", "",
             f"- invited: {_n(s.invited, k)}"]
    lines += [f"  - {f.label}: {_n(f.count, k)}" for f in s.rsvp if f.count != 0]
    lines += [f"- walk-ins (came without an invitation): {_n(s.walk_ins, k)}",
              f"- checked in: {_n(s.attended, k)}",
              f"- answered the feedback survey: {_n(s.feedback_answered, k)}", "",
              "How useful was it? (1 not at all - 5 extremely useful)", ""]
    lines += [f"- {f.label}: {_n(f.count, k)}" for f in s.usefulness]
    mean = "withheld" if s.usefulness_mean is None else f"{s.usefulness_mean:.1f}"
    lines += [f"- average: {mean}", "", "Did they feel heard?", ""]
    lines += [f"- {f.label}: {_n(f.count, k)}" for f in s.felt_heard]
    return lines

