"""Golden tests of the math on small hand-made conversations whose groups are known."""

from __future__ import annotations

import numpy as np
import pytest

from engage.deliberation.analysis import analyze
from engage.deliberation.projection import in_conversation
from engage.deliberation.votes import Vote, build_matrix


def camps(patterns: list[list[int]], size: int, seed: int = 1,
          missing: float = 0.1) -> list[Vote]:
    """``size`` people per camp voting the camp's pattern; each skips some statements."""
    rng = np.random.default_rng(seed)
    votes: list[Vote] = []
    for c, pattern in enumerate(patterns):
        for i in range(size):
            person = f"c{c}p{i}"
            for j, value in enumerate(pattern):
                if rng.random() >= missing:
                    votes.append(Vote(person, f"s{j}", value))
    return votes


def groups_of(result, people: list[str]) -> set[int | None]:
    return {result.membership[p] for p in people}


TWO_CAMPS = [
    [1, 1, 1, 1, -1, -1, -1, -1, 1, 1],
    [-1, -1, -1, -1, 1, 1, 1, 1, 1, 1],
]


def test_two_camps_are_found_whole_and_apart() -> None:
    result = analyze(build_matrix(camps(TWO_CAMPS, 12)))
    assert [g.size for g in result.groups] == [12, 12]
    first = groups_of(result, [f"c0p{i}" for i in range(12)])
    second = groups_of(result, [f"c1p{i}" for i in range(12)])
    assert len(first) == 1 and len(second) == 1 and first != second


def test_consensus_is_what_both_camps_agree_on() -> None:
    result = analyze(build_matrix(camps(TWO_CAMPS, 12)))
    agreed = {result.statement(s.index) for s in result.consensus}
    assert agreed == {"s8", "s9"}
    assert all(s.direction == "agree" for s in result.consensus)


def test_representative_statements_are_the_camps_own() -> None:
    result = analyze(build_matrix(camps(TWO_CAMPS, 12)))
    camp0 = result.membership["c0p0"]
    rep = result.groups[camp0].representative
    assert rep, "a camp with a clear position has representative statements"
    for stance in rep:
        j = int(result.statement(stance.index)[1:])
        assert j < 8, "consensus statements do not tell a group apart"
        expected = "agree" if TWO_CAMPS[0][j] == 1 else "disagree"
        assert stance.direction == expected


def test_three_camps_give_three_groups() -> None:
    patterns = [
        [1, 1, 1, -1, -1, -1, 0, 0, 1, 1, -1, 1],
        [-1, -1, -1, 1, 1, 1, 0, 0, 1, -1, 1, 1],
        [0, 0, 0, -1, -1, -1, 1, 1, 1, 0, 0, 1],
    ]
    # different camps sizes so the largest-first numbering is checked too
    # 12 statements, 10% skipped: everyone casts the 7 votes that get them clustered
    votes = camps(patterns[:1], 20, seed=2) + [
        Vote(v.participant.replace("c0", "c1"), v.statement, v.value)
        for v in camps(patterns[1:2], 15, seed=3)
    ] + [
        Vote(v.participant.replace("c0", "c2"), v.statement, v.value)
        for v in camps(patterns[2:3], 10, seed=4)
    ]
    result = analyze(build_matrix(votes))
    assert [g.size for g in result.groups] == [20, 15, 10]
    for c, expected in ((0, 0), (1, 1), (2, 2)):
        size = (20, 15, 10)[c]
        assert groups_of(result, [f"c{c}p{i}" for i in range(size)]) == {expected}


def test_moderated_out_statements_do_not_shape_groups() -> None:
    votes = camps(TWO_CAMPS, 12)
    # a rejected statement on which the camps split the other way round
    votes += [Vote(f"c0p{i}", "bad", -1) for i in range(12)]
    votes += [Vote(f"c1p{i}", "bad", 1) for i in range(12)]
    matrix = build_matrix(votes, moderated_out=["bad"])
    assert "bad" not in matrix.statements
    result = analyze(matrix)
    assert all(result.statement(s.index) != "bad" for g in result.groups
               for s in g.representative)
    assert len(groups_of(result, [f"c0p{i}" for i in range(12)])) == 1


def test_latest_vote_counts() -> None:
    matrix = build_matrix([Vote("a", "s1", 1, at=2.0), Vote("a", "s1", -1, at=1.0),
                           Vote("b", "s1", 0, at=1.0), Vote("b", "s1", -1, at=3.0)])
    assert matrix.values[:, 0].tolist() == [1.0, -1.0]


def test_a_vote_outside_one_zero_minus_one_is_refused() -> None:
    with pytest.raises(ValueError, match="1, -1 or 0"):
        build_matrix([Vote("a", "s1", 2)])


def test_people_with_few_votes_are_not_clustered() -> None:
    votes = camps(TWO_CAMPS, 12, missing=0.0)
    votes += [Vote("quiet", "s0", 1), Vote("quiet", "s1", 1)]
    matrix = build_matrix(votes)
    assert not in_conversation(matrix)[matrix.participants.index("quiet")]
    result = analyze(matrix)
    assert result.membership["quiet"] is None
    assert sum(g.size for g in result.groups) == 24


def test_small_conversations_take_the_most_active_fifteen() -> None:
    votes = [Vote(f"p{i}", f"s{j}", 1) for i in range(20) for j in range(i % 5 + 1)]
    mask = in_conversation(build_matrix(votes))
    assert mask.sum() == 15


def test_no_votes_gives_no_groups() -> None:
    result = analyze(build_matrix([]))
    assert result.groups == [] and result.consensus == []
