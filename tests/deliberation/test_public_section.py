"""What leaves the staff room about a conversation: per-group shares for the console table
and consensus statements for the public page, under the same suppression as the briefing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from engage.deliberation import store
from engage.deliberation.analysis import analyze
from engage.deliberation.public_section import public_consensus
from engage.deliberation.report import group_shares, published
from engage.deliberation.votes import build_matrix
from engage.storage.db import session_scope
from tests.deliberation.seed import NOW, two_camps
from tests.deliberation.test_privacy import three_camps


def test_group_shares_per_statement_and_group(db_engine: Engine) -> None:
    conv, agreed = two_camps(db_engine)
    with session_scope(db_engine) as session:
        result = analyze(store.vote_matrix(session, conv))
    shares = group_shares(result, min_cell=10)
    assert shares[str(agreed)] == {"A": {"agree": 100, "disagree": 0, "pass": 0},
                                   "B": {"agree": 100, "disagree": 0, "pass": 0}}
    split = shares[str(agreed + 1)]
    assert sorted(s["agree"] for s in split.values()) == [0, 100]
    pooled = group_shares(result, min_cell=16)  # two groups of 15: shown only together
    assert pooled[str(agreed)] == {"others": {"agree": 100, "disagree": 0, "pass": 0}}
    assert group_shares(result, min_cell=31) == {}  # not even the pool: nothing at all


def test_group_shares_pool_small_groups_and_round() -> None:
    result = analyze(build_matrix(three_camps((20, 20, 4))))
    shares = group_shares(result, min_cell=10)
    labels = {g.label for g in published(result, {}, min_cell=10).groups}
    for per_group in shares.values():
        assert set(per_group) == labels
        for s in per_group.values():
            assert all(v % 5 == 0 for v in s.values())


def test_public_shows_only_finished_conversations(db_engine: Engine) -> None:
    two_camps(db_engine, closes_at=NOW + timedelta(days=1))
    assert public_consensus(db_engine, min_cell=10, now=NOW, lang="en") == []
    [shown] = public_consensus(db_engine, min_cell=10, now=NOW + timedelta(days=2), lang="en")
    assert shown["voters"] == 30
    assert [s["text"] for s in shown["statements"]] == ["Lights on the bus routes."]
    assert shown["statements"][0]["agree_pct"] == {"A": 95, "B": 95}


def test_public_needs_the_minimum_group_size(db_engine: Engine) -> None:
    two_camps(db_engine, size=4, closes_at=NOW - timedelta(days=1))  # 8 voters, groups of 4
    assert public_consensus(db_engine, min_cell=10, now=NOW, lang="en") == []
    [shown] = public_consensus(db_engine, min_cell=5, now=NOW, lang="en")
    assert [set(s["agree_pct"]) for s in shown["statements"]] == [{"others"}]  # pooled only


def test_public_in_spanish_uses_the_translation(db_engine: Engine) -> None:
    two_camps(db_engine, closes_at=NOW - timedelta(days=1),
              translation="Luces en las rutas del autobús.")
    [shown] = public_consensus(db_engine, min_cell=10, now=NOW, lang="es")
    assert shown["statements"][0] == {"text": "Luces en las rutas del autobús.", "lang": "es",
                                      "agree_pct": {"A": 95, "B": 95}}


def test_public_leaves_out_unapproved_statements(db_engine: Engine) -> None:
    _, agreed = two_camps(db_engine, closes_at=NOW - timedelta(days=1))
    with session_scope(db_engine) as session:
        store.moderate(session, agreed, approve=False, by="user:1", reason="off topic",
                       now=NOW)
    assert public_consensus(db_engine, min_cell=10, now=NOW, lang="en") == []
