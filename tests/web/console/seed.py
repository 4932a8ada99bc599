"""Residents who were invited to a session and answered yes, as the dialogue tick records them
(the seed for pages that show who is coming)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engage.storage.db import session_scope


def residents_said_yes(app: Any, session_id: int, numbers: list[str]) -> None:
    """Residents who were invited and answered yes (their RSVP as the tick records it)."""
    from engage.scheduling.dialogue import get_session, promote
    from engage.storage.tables.scheduling import SessionRsvp

    now = datetime.now(UTC)
    with session_scope(app.state.engine) as db:
        for number in numbers:
            p = app.state.runtime.participant_for(db, "sms", number, now)
            db.add(SessionRsvp(session_id=session_id, participant_id=p.id, status="yes",
                               invited_at=now, responded_at=now))
        db.flush()
        promote(session=db, ds=get_session(session=db, session_id=session_id), now=now,
                settings=app.state.settings)
