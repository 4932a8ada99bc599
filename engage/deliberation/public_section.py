"""What the public page shows of community conversations: the statements every opinion group
agrees with, from finished conversations only.

A conversation is shown once it has closed (``closes_at`` in the past: no results while people
are still voting, so nobody is swayed) and only through ``report.published``: at least the
minimum cell size of voters, no group under it on its own, a statement only when at least that
many voted on it in every group, shares rounded. Only approved statements, without authors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from engage.deliberation.analysis import analyze
from engage.deliberation.report import published
from engage.deliberation.store import texts, vote_matrix
from engage.storage.tables.deliberation import DelibConversation, DelibStatement

MAX_CONVERSATIONS = 5


def _in_language(statement: DelibStatement | None, text: str, lang: str) -> tuple[str, str]:
    """The statement in ``lang`` when it was written or translated into it; else as written."""
    if statement is None or statement.language == lang:
        return text, lang
    if statement.translation:
        return statement.translation, lang
    return text, statement.language


def public_consensus(engine: Engine, *, min_cell: int, now: datetime,
                     lang: str) -> list[dict[str, Any]]:
    """Finished conversations (newest first) with at least one publishable consensus
    statement: topic, voters, and each statement's text, language and per-group agree %."""
    out: list[dict[str, Any]] = []
    with Session(engine) as session:
        convs = session.exec(select(DelibConversation).where(
            col(DelibConversation.closes_at).is_not(None),
            col(DelibConversation.closes_at) <= now)
            .order_by(col(DelibConversation.closes_at).desc())).all()
        for conv in convs:
            if len(out) >= MAX_CONVERSATIONS:
                break
            assert conv.id is not None
            matrix = vote_matrix(session, conv.id)
            if len(matrix.participants) < min_cell:
                continue
            by_id = texts(session, conv.id)
            view = published(analyze(matrix), by_id, min_cell)
            items = []
            for s in view.agree:
                row = by_id.get(s.key)
                if row is None or row.status != "approved":
                    continue
                text, language = _in_language(row, s.text, lang)
                items.append({"text": text, "lang": language, "agree_pct": s.agree_pct})
            if items:
                out.append({"topic": conv.topic, "voters": view.voters, "statements": items})
    return out
