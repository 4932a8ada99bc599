"""The vote matrix: one row per participant, one column per statement, latest vote wins.

Values follow Polis's export convention: +1 agree, -1 disagree, 0 pass (unsure), NaN not seen.
Moderated-out statements are kept out of the matrix but counted (Polis zeroes their columns, so
they still weigh in the projection's sparsity scaling and in who counts as "in" the
conversation; see ``projection``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

AGREE, DISAGREE, PASS = 1, -1, 0
VALID_VOTES = frozenset({AGREE, DISAGREE, PASS})

FloatMatrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Vote:
    """One vote as cast: later ``at`` wins when a participant votes twice on a statement."""

    participant: str
    statement: str
    value: int
    at: float = 0.0


@dataclass(frozen=True)
class VoteMatrix:
    """Participants x shown statements (NaN = no vote), plus counts the Polis rules need."""

    participants: tuple[str, ...]
    statements: tuple[str, ...]
    values: FloatMatrix
    # votes each participant cast on moderated-out statements, and how many such statements
    # received votes: Polis's zeroed columns (see module docstring)
    moderated_votes: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )
    moderated_statements: int = 0
    # participants who met Polis's "in the conversation" rule at some moment of the vote
    # history (Polis keeps them in afterwards); empty when votes carry no times
    joined_early: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def voted(self) -> npt.NDArray[np.bool_]:
        return ~np.isnan(self.values)

    def vote_counts(self) -> npt.NDArray[np.int64]:
        """Votes per participant on every statement, moderated-out ones included."""
        counts: npt.NDArray[np.int64] = self.voted.sum(axis=1).astype(np.int64)
        if self.moderated_votes.size:
            counts = counts + self.moderated_votes
        return counts


def build_matrix(
    votes: Iterable[Vote],
    moderated_out: Iterable[str] = (),
    statement_order: Iterable[str] | None = None,
) -> VoteMatrix:
    """The latest vote per (participant, statement); moderated-out statements set aside.

    Participants appear in order of their first vote (Polis's order), statements in
    ``statement_order`` when given, else in order of first vote.
    """
    out = frozenset(moderated_out)
    latest: dict[tuple[str, str], tuple[float, int, int]] = {}
    first: dict[tuple[str, str], tuple[float, int]] = {}
    participants: dict[str, None] = {}
    seen_statements: dict[str, None] = {}
    for seq, vote in enumerate(votes):
        if vote.value not in VALID_VOTES:
            raise ValueError(f"vote must be 1, -1 or 0, got {vote.value!r}")
        participants.setdefault(vote.participant, None)
        seen_statements.setdefault(vote.statement, None)
        key = (vote.participant, vote.statement)
        first[key] = min(first.get(key, (vote.at, seq)), (vote.at, seq))
        previous = latest.get(key)
        if previous is None or (vote.at, seq) >= previous[:2]:
            latest[key] = (vote.at, seq, vote.value)
    order = list(statement_order) if statement_order is not None else []
    listed = set(order)
    order += [s for s in seen_statements if s not in listed]
    kept = [s for s in order if s not in out and s in seen_statements]
    out_voted = {s for s in seen_statements if s in out}
    people = list(participants)
    row = {p: i for i, p in enumerate(people)}
    col = {s: j for j, s in enumerate(kept)}
    values = np.full((len(people), len(kept)), np.nan)
    moderated_votes = np.zeros(len(people), dtype=np.int64)
    for (person, statement), (_, _, value) in latest.items():
        j = col.get(statement)
        if j is None:
            moderated_votes[row[person]] += 1
        else:
            values[row[person], j] = value
    return VoteMatrix(
        joined_early=_joined_early(first, row, len(people)),
        participants=tuple(people),
        statements=tuple(kept),
        values=values,
        moderated_votes=moderated_votes,
        moderated_statements=len(out_voted),
    )


def _joined_early(first: dict[tuple[str, str], tuple[float, int]], row: dict[str, int],
                  n_people: int) -> npt.NDArray[np.bool_]:
    """Who reached ``min(7, statements voted on so far)`` votes at the time of one of their
    votes, replaying the history by time (first votes only: a re-vote adds no statement)."""
    joined = np.zeros(n_people, dtype=bool)
    if not first or all(at == 0.0 for at, _ in first.values()):
        return joined
    firsts = sorted((at, seq, person, statement)
                    for (person, statement), (at, seq) in first.items())
    statements: set[str] = set()
    counts = np.zeros(n_people, dtype=np.int64)
    for _, _, person, statement in firsts:
        statements.add(statement)
        i = row[person]
        counts[i] += 1
        if counts[i] >= min(7, len(statements)):
            joined[i] = True
    return joined
