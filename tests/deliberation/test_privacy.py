"""Privacy of deliberation outputs: small groups never shown alone, no published figure
from fewer than the minimum cell of votes, erasure removes a resident's votes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import select

from engage.deliberation import store
from engage.deliberation.analysis import analyze
from engage.deliberation.briefing_section import deliberation_sections, render_markdown
from engage.deliberation.opinion_map import render_svg
from engage.deliberation.report import analysis_json, published
from engage.deliberation.votes import Vote, build_matrix
from engage.privacy import erase_participant
from engage.storage.db import session_scope
from engage.storage.tables import Participant
from engage.storage.tables.deliberation import DelibMember, DelibStatement, DelibVote
from tests.deliberation.seed import two_camps

NOW = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
A = [1, 1, 1, -1, -1, 1, 1, 1]
B = [-1, -1, -1, 1, 1, 1, 1, 1]
C = [1, -1, 1, -1, 1, -1, 1, -1]


def three_camps(sizes: tuple[int, int, int], seed: int = 3) -> list[Vote]:
    rng = np.random.default_rng(seed)
    votes = []
    for c, (pattern, size) in enumerate(zip((A, B, C), sizes, strict=True)):
        for i in range(size):
            for j, value in enumerate(pattern):
                if rng.random() > 0.05 or j < 7:
                    votes.append(Vote(f"c{c}-{i}", str(j), value))
    return votes


def test_a_small_group_is_pooled_or_left_out() -> None:
    result = analyze(build_matrix(three_camps((20, 20, 4))))
    sizes = sorted(g.size for g in result.groups)
    view = published(result, {}, min_cell=10)
    assert all(g.size >= 10 for g in view.groups)
    if sizes[0] < 10:  # the four are a group of their own: never shown alone
        assert sum(g.size for g in view.groups) == sum(s for s in sizes if s >= 10)
    data = analysis_json(result, {}, min_cell=10)
    for g in data["groups"]:
        if g["suppressed"]:
            assert g["size"] is None and g["representative"] == []


def test_shares_are_rounded_and_need_enough_votes() -> None:
    result = analyze(build_matrix(three_camps((15, 15, 15))))
    view = published(result, {}, min_cell=10)
    for item in view.agree + view.split:
        assert all(v % 5 == 0 for v in item.agree_pct.values())
    strict = published(result, {}, min_cell=100)
    assert strict.groups == [] and strict.agree == [] and strict.split == []


def test_the_map_draws_groups_not_people() -> None:
    result = analyze(build_matrix(three_camps((15, 15, 15))))
    svg = render_svg(published(result, {}, min_cell=10), "Safety <streets>")
    assert svg.count("<circle") == len(published(result, {}, min_cell=10).groups)
    assert "Safety &lt;streets&gt;" in svg


def _resident(session, n: int) -> Participant:
    p = Participant(key=f"k{n}", channel="sms", consent_dialogue="granted")
    session.add(p)
    session.flush()
    return p


def test_statement_table_hides_counts_below_the_cell(db_engine: Engine) -> None:
    with session_scope(db_engine) as session:
        conv = store.create_conversation(session, topic="t")
        s = store.add_statement(session, conv.id, "Lights on the bus routes.")
        for n in range(3):
            m = DelibMember(conversation_id=conv.id, source_id=f"m{n}",
                            participant_id=_resident(session, n).id)
            session.add(m)
            session.flush()
            session.add(DelibVote(conversation_id=conv.id, statement_id=s.id, member_id=m.id,
                                  value=1, cast_at=NOW))
        session.flush()
        [row] = store.statement_table(session, conv.id, min_cell=10)["statements"]
        assert row["agree"] == "<10" and row["disagree"] == 0


def test_briefing_section_is_withheld_for_few_voters(db_engine: Engine) -> None:
    with session_scope(db_engine) as session:
        conv = store.create_conversation(session, topic="Greenmount safety", area="Waverly")
        store.add_statement(session, conv.id, "Lights on the bus routes.")
    [section] = deliberation_sections(db_engine, min_cell=10, area="waverly")
    assert section["withheld"]
    assert "fewer than 10 residents" in "\n".join(render_markdown([section], 10))


def test_erasure_removes_votes_and_unpublished_words(db_engine: Engine) -> None:
    with session_scope(db_engine) as session:
        conv = store.create_conversation(session, topic="t")
        seed = store.add_statement(session, conv.id, "Lights on the bus routes.")
        person = _resident(session, 1)
        m = DelibMember(conversation_id=conv.id, source_id="m1", participant_id=person.id)
        session.add(m)
        session.flush()
        session.add(DelibVote(conversation_id=conv.id, statement_id=seed.id, member_id=m.id,
                              value=1, cast_at=NOW))
        own = store.add_statement(session, conv.id, "My own words here.",
                                  author_kind="resident", author_member_id=m.id)
        published_own = store.add_statement(session, conv.id, "Published words here.",
                                            author_kind="resident", author_member_id=m.id,
                                            status="approved")
        own_id, published_id = own.id, published_own.id
        counts = erase_participant(session=session, participant=person, now=NOW)
        assert counts["deliberation_votes"] == 1
    with session_scope(db_engine) as session:
        assert session.exec(select(DelibVote)).all() == []
        assert session.exec(select(DelibMember)).all() == []
        assert session.get(DelibStatement, own_id) is None
        kept = session.get(DelibStatement, published_id)
        assert kept is not None and kept.author_member_id is None


def test_briefing_shows_agreement_and_split_with_group_sizes(db_engine: Engine) -> None:
    """30 voters in two camps of 15: both camps agree on statement 0 and split on 1."""
    two_camps(db_engine, area="Waverly")
    [section] = deliberation_sections(db_engine, min_cell=10, area="Waverly")
    assert not section["withheld"]
    assert sorted(g["size"] for g in section["groups"]) == [15, 15]
    assert [a["text"] for a in section["agree"]] == ["Lights on the bus routes."]
    assert "More patrols at night." in [s["text"] for s in section["split"]]
    text = "\n".join(render_markdown([section], 10))
    assert "### Where neighbours agree" in text and "### Where they split" in text
    assert "group A 15 people, group B 15 people" in text
