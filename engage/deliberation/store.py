"""Conversations, statements, moderation, Polis import/export: the staff side, on the ORM.

Everything here is a rare path (a staff command, a nightly analysis), so it uses an ORM
session; the per-message path for residents is in ``engage.deliberation.texting``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, update
from sqlmodel import Session, col, select

from engage.deliberation.polis_format import MODERATION, PolisComment, PolisExport
from engage.deliberation.votes import Vote, VoteMatrix, build_matrix
from engage.errors import UserError
from engage.storage.tables.deliberation import (
    DelibConversation,
    DelibMember,
    DelibStatement,
    DelibVote,
)

LANGUAGES = ("en", "es")
MAX_STATEMENT = 280
STATUS_POLIS = {v: k for k, v in MODERATION.items()}


def get_conversation(session: Session, conversation_id: int) -> DelibConversation:
    conv = session.get(DelibConversation, conversation_id)
    if conv is None:
        raise UserError(f"no deliberation conversation with id {conversation_id}")
    return conv


def parse_languages(text: str) -> str:
    langs = [x.strip().lower() for x in text.split(",") if x.strip()]
    bad = [x for x in langs if x not in LANGUAGES]
    if not langs or bad:
        raise UserError(f"languages must be en, es or en,es (got {text!r})")
    return ",".join(dict.fromkeys(langs))


def create_conversation(session: Session, *, topic: str, area: str | None = None,
                        languages: str = "en", opens_at: datetime | None = None,
                        closes_at: datetime | None = None,
                        dialogue_session_id: int | None = None, daily_cap: int = 5,
                        source: str = "engage") -> DelibConversation:
    topic = " ".join(topic.split())
    if not topic:
        raise UserError("topic is empty")
    if len(topic) > 300:
        raise UserError(f"topic is {len(topic)} characters; at most 300")
    if opens_at and closes_at and closes_at <= opens_at:
        raise UserError("closes must be after opens")
    if daily_cap < 1:
        raise UserError("daily cap must be at least 1")
    conv = DelibConversation(topic=topic, area=area, languages=parse_languages(languages),
                             opens_at=opens_at, closes_at=closes_at,
                             dialogue_session_id=dialogue_session_id, daily_cap=daily_cap,
                             source=source)
    session.add(conv)
    session.flush()
    return conv


def add_statement(session: Session, conversation_id: int, text: str, *, language: str = "en",
                  author_kind: str = "staff", author_member_id: int | None = None,
                  status: str | None = None, now: datetime | None = None) -> DelibStatement:
    """Seed statements from staff are approved at once; residents' wait for moderation."""
    get_conversation(session, conversation_id)
    text = " ".join(text.split())
    if not text:
        raise UserError("statement is empty")
    if len(text) > MAX_STATEMENT:
        raise UserError(f"statement is {len(text)} characters; at most {MAX_STATEMENT} "
                        "(it must fit one text message)")
    if language not in LANGUAGES:
        raise UserError(f"language must be en or es (got {language!r})")
    statement = DelibStatement(
        conversation_id=conversation_id, text=text, language=language, author_kind=author_kind,
        author_member_id=author_member_id,
        status=status or ("approved" if author_kind == "staff" else "pending"),
        created_at=now or datetime.now(UTC))
    session.add(statement)
    session.flush()
    return statement


def get_statement(session: Session, statement_id: int) -> DelibStatement:
    statement = session.get(DelibStatement, statement_id)
    if statement is None:
        raise UserError(f"no statement with id {statement_id}")
    return statement


def moderate(session: Session, statement_id: int, *, approve: bool, by: str,
             reason: str | None, now: datetime) -> DelibStatement:
    """Approve or reject (a rejection needs a reason, which is kept)."""
    statement = get_statement(session, statement_id)
    reason = " ".join((reason or "").split()) or None
    if not approve and not reason:
        raise UserError("a rejection needs --reason (it is kept with the statement)")
    if not by.strip():
        raise UserError("--by (who moderates) is required")
    statement.status = "approved" if approve else "rejected"
    statement.reason = reason[:300] if reason else None
    statement.moderated_by = by.strip()[:80]
    statement.moderated_at = now
    session.add(statement)
    session.flush()
    return statement


def translate(session: Session, statement_id: int, text: str) -> DelibStatement:
    """A staff translation into the conversation's other language."""
    statement = get_statement(session, statement_id)
    text = " ".join(text.split())
    if not text or len(text) > MAX_STATEMENT:
        raise UserError(f"translation must be 1-{MAX_STATEMENT} characters")
    statement.translation = text
    session.add(statement)
    session.flush()
    return statement


def statements(session: Session, conversation_id: int,
               status: str | None = None) -> list[DelibStatement]:
    query = select(DelibStatement).where(DelibStatement.conversation_id == conversation_id)
    if status is not None:
        query = query.where(DelibStatement.status == status)
    return list(session.exec(query.order_by(col(DelibStatement.id))).all())


def _member(session: Session, conversation_id: int, source_id: str,
            cache: dict[str, int]) -> int:
    found = cache.get(source_id)
    if found is None:
        member = DelibMember(conversation_id=conversation_id, source_id=source_id)
        session.add(member)
        session.flush()
        assert member.id is not None
        found = cache[source_id] = member.id
    return found


def _ms_to_dt(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def import_polis(session: Session, export: PolisExport, *, now: datetime) -> DelibConversation:
    """A Polis export as a new conversation; voter-ids become members' source ids."""
    conv = create_conversation(session, topic=export.topic or "Imported Polis conversation",
                               source="polis")
    assert conv.id is not None
    members: dict[str, int] = {}
    ids: dict[str, int] = {}
    counts = Counter(v.statement for v in export.votes)
    for c in export.comments:
        author = _member(session, conv.id, c.author, members) if c.author else None
        statement = DelibStatement(
            conversation_id=conv.id, text=c.body, language="en", source_id=c.id,
            author_kind="polis", author_member_id=author, status=MODERATION[c.moderated],
            votes=counts[c.id],
            created_at=_ms_to_dt(c.at) if c.at else now)
        session.add(statement)
        session.flush()
        assert statement.id is not None
        ids[c.id] = statement.id
    rows = [{"conversation_id": conv.id, "statement_id": ids[v.statement],
             "member_id": _member(session, conv.id, v.participant, members),
             "value": v.value, "cast_at": _ms_to_dt(v.at) if v.at else now}
            for v in export.votes]
    for start in range(0, len(rows), 5000):
        session.execute(insert(DelibVote), rows[start:start + 5000])
    session.flush()
    return conv


def votes(session: Session, conversation_id: int) -> list[Vote]:
    """Every vote cast, oldest first, by member source id and statement id."""
    query = (select(DelibMember.source_id, DelibVote.statement_id, DelibVote.value,
                    DelibVote.cast_at)
             .join(DelibMember, col(DelibMember.id) == DelibVote.member_id)
             .where(DelibVote.conversation_id == conversation_id)
             .order_by(col(DelibVote.cast_at), col(DelibVote.id)))
    return [Vote(source, str(sid), int(value), at.timestamp() * 1000)
            for source, sid, value, at in session.exec(query).all()]


def vote_matrix(session: Session, conversation_id: int) -> VoteMatrix:
    """The matrix the math reads: rejected statements moderated out, statement ids as text."""
    get_conversation(session, conversation_id)
    rejected = [str(s.id) for s in statements(session, conversation_id, "rejected")]
    order = [str(s.id) for s in statements(session, conversation_id)]
    return build_matrix(votes(session, conversation_id), moderated_out=rejected,
                        statement_order=order)


def export_polis(session: Session, conversation_id: int,
                 groups: dict[str, int | None] | None = None) -> PolisExport:
    """The conversation in Polis's format: ids are the Polis ids for imported data."""
    conv = get_conversation(session, conversation_id)
    members = {m.id: m.source_id for m in session.exec(
        select(DelibMember).where(DelibMember.conversation_id == conversation_id)).all()}
    items = statements(session, conversation_id)
    comment_id = {str(s.id): (s.source_id or str(s.id)) for s in items}
    comments = [PolisComment(
        id=comment_id[str(s.id)],
        author=members.get(s.author_member_id, "") if s.author_member_id else "",
        moderated=STATUS_POLIS.get(s.status, 0), body=s.text,
        at=s.created_at.timestamp() * 1000) for s in items]
    exported = [Vote(v.participant, comment_id[v.statement], v.value, v.at)
                for v in votes(session, conversation_id)]
    return PolisExport(comments, exported, dict(groups or {}), conv.topic)


def texts(session: Session, conversation_id: int) -> dict[str, DelibStatement]:
    return {str(s.id): s for s in statements(session, conversation_id)}


def erase_resident(session: Session, participant_id: int) -> dict[str, int]:
    """Erasure (DELETE): the resident's votes and memberships go, and so do their own
    statements not yet shown to anyone; a published statement stays as the community's but
    no longer points to anyone."""
    member_ids = list(session.exec(select(DelibMember.id).where(
        DelibMember.participant_id == participant_id)).all())
    if not member_ids:
        return {}  # never took part: the erasure's counts stay as they were
    removed: Any = session.execute(delete(DelibVote).where(
        col(DelibVote.member_id).in_(member_ids)))
    removed = removed.rowcount
    unpublished = list(session.exec(select(DelibStatement.id).where(
        col(DelibStatement.author_member_id).in_(member_ids),
        DelibStatement.status != "approved")).all())
    if unpublished:
        session.execute(delete(DelibVote).where(col(DelibVote.statement_id).in_(unpublished)))
        session.execute(delete(DelibStatement).where(col(DelibStatement.id).in_(unpublished)))
    session.execute(update(DelibStatement).where(
        col(DelibStatement.author_member_id).in_(member_ids)).values(author_member_id=None))
    session.execute(delete(DelibMember).where(col(DelibMember.id).in_(member_ids)))
    return {"deliberation_votes": int(removed or 0),
            "deliberation_statements": len(unpublished)}


def statement_table(session: Session, conversation_id: int, min_cell: int) -> dict[str, Any]:
    """The staff's statements table: status, reason and vote counts (latest vote each).

    Counts below ``min_cell`` are shown as "<N" so a pending statement voted on by one or two
    residents does not show how they voted."""
    conv = get_conversation(session, conversation_id)
    matrix = vote_matrix(session, conversation_id)
    column = {s: j for j, s in enumerate(matrix.statements)}

    def count(sid: str, value: int) -> int | str:
        j = column.get(sid)
        n = 0 if j is None else int((matrix.values[:, j] == value).sum())
        return n if n == 0 or n >= min_cell else f"<{min_cell}"

    rows = [{"id": s.id, "source_id": s.source_id, "status": s.status, "reason": s.reason,
             "author": s.author_kind, "language": s.language, "text": s.text,
             "translation": s.translation, "agree": count(str(s.id), 1),
             "disagree": count(str(s.id), -1), "unsure": count(str(s.id), 0)}
            for s in statements(session, conversation_id)]
    return {"id": conv.id, "topic": conv.topic, "area": conv.area,
            "languages": conv.languages, "voters": len(matrix.participants),
            "statements": rows}
