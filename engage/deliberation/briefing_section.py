"""The deliberation part of a mediator's briefing: "where neighbours agree" and "where they
split", with group sizes, from the conversations linked to the session (or, without a
session, held in the briefing's area). Only ``report.published`` figures are used, so the
briefing inherits its suppression: no group under the minimum cell size on its own, no share
from fewer than that many votes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, or_, select

from engage.deliberation.analysis import analyze
from engage.deliberation.report import published
from engage.deliberation.store import texts, vote_matrix
from engage.storage.tables.deliberation import DelibConversation


def deliberation_sections(engine: Engine, *, min_cell: int, area: str,
                          session_id: int | None = None) -> list[dict[str, Any]]:
    """One entry per conversation: topic, voters, groups (label, size), agree, split."""
    sections: list[dict[str, Any]] = []
    with Session(engine) as session:
        linked = [DelibConversation.dialogue_session_id == session_id] if session_id else []
        convs = session.exec(select(DelibConversation).where(or_(
            func.lower(col(DelibConversation.area)) == area.lower(), *linked))
            .order_by(col(DelibConversation.id))).all()
        for conv in convs:
            assert conv.id is not None
            matrix = vote_matrix(session, conv.id)
            entry: dict[str, Any] = {"topic": conv.topic, "voters": None, "groups": [],
                                     "agree": [], "split": [], "withheld": True}
            if len(matrix.participants) >= min_cell:
                view = published(analyze(matrix), texts(session, conv.id), min_cell)
                entry.update(
                    voters=view.voters, withheld=False,
                    groups=[{"label": g.label, "size": g.size} for g in view.groups],
                    agree=[{"text": s.text, "agree_pct": s.agree_pct} for s in view.agree],
                    split=[{"text": s.text, "agree_pct": s.agree_pct} for s in view.split])
            sections.append(entry)
    return sections


def render_markdown(sections: list[dict[str, Any]], min_cell: int) -> list[str]:
    """Markdown lines for the briefing (empty when there is no conversation). Statements and
    topics are residents' and staff's words: escaped like every quote in the briefing."""
    from engage.analytics.briefing import markdown_safe

    lines: list[str] = []
    for s in sections:
        lines += ["", f"## Community statements: {markdown_safe(s['topic'])}", ""]
        if s["withheld"]:
            lines.append(f"Withheld: fewer than {min_cell} residents have voted.")
            continue
        sizes = ", ".join(f"group {g['label']} {g['size']} people" for g in s["groups"])
        lines.append(f"{s['voters']} residents voted. Opinion groups: {sizes or 'none yet'}.")

        def share(item: dict[str, Any]) -> str:
            return "; ".join(f"{k} {v}% agree" for k, v in item["agree_pct"].items())

        lines += ["", "### Where neighbours agree", ""]
        lines += ([f"- {markdown_safe(a['text'])} ({share(a)})" for a in s["agree"]]
                  or ["- nothing yet"])
        lines += ["", "### Where they split", ""]
        lines += ([f"- {markdown_safe(a['text'])} ({share(a)})" for a in s["split"]]
                  or ["- nothing yet"])
    return lines
