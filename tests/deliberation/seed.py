"""A conversation in the database with two camps of voters: both agree on the first
statement and split on the second (the camps' sizes are chosen by each test)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from engage.deliberation import store
from engage.storage.db import session_scope
from engage.storage.tables import Participant
from engage.storage.tables.deliberation import DelibMember, DelibVote

NOW = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)


def two_camps(engine: Engine, *, size: int = 15, agreed: str = "Lights on the bus routes.",
              split: str = "More patrols at night.", area: str = "Eastern",
              closes_at: datetime | None = None, dialogue_session_id: int | None = None,
              language: str = "en", translation: str | None = None) -> tuple[int, int]:
    """``2 * size`` residents voting; returns (conversation id, agreed statement id)."""
    with session_scope(engine) as session:
        conv = store.create_conversation(session, topic="Greenmount safety", area=area,
                                         opens_at=None, closes_at=closes_at,
                                         dialogue_session_id=dialogue_session_id,
                                         languages="en,es")
        assert conv.id is not None
        first = store.add_statement(session, conv.id, agreed, language=language)
        if translation:
            store.translate(session, int(first.id or 0), translation)
        second = store.add_statement(session, conv.id, split)
        others = [store.add_statement(session, conv.id, f"Statement {j}.") for j in range(6)]
        for n in range(2 * size):
            camp = n % 2
            person = Participant(key=f"k{conv.id}-{n}", channel="sms",
                                 consent_dialogue="granted")
            session.add(person)
            session.flush()
            member = DelibMember(conversation_id=conv.id, source_id=f"m{conv.id}-{n}",
                                 participant_id=person.id)
            session.add(member)
            session.flush()
            values = [(first.id, 1), (second.id, 1 if camp else -1)]
            values += [(s.id, 1 if (camp + j) % 2 else -1) for j, s in enumerate(others)]
            for sid, value in values:
                session.add(DelibVote(conversation_id=conv.id, statement_id=sid,
                                      member_id=member.id, value=value, cast_at=NOW))
        return conv.id, int(first.id or 0)
