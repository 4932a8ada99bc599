"""Which statements represent each group, and which every group agrees on (Polis's rules).

For a group, a statement is representative when the group leans one way on it (agree or
disagree more often than not, with 90% confidence) and leans that way clearly more than
everyone else does (two-proportion test, 90%). Representativeness is Polis's
``(agree rate in group / agree rate elsewhere) x agree rate in group``, with +1/+2 smoothing so
one vote never reads as 100%. A consensus statement is agreed (or disagreed) by a majority of
every group; it is ranked by the product of the groups' smoothed rates (Polis's group-aware
consensus).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engage.deliberation.votes import FloatMatrix

Z90 = 1.2816
MAX_REPRESENTATIVE = 5
MAX_CONSENSUS = 5


@dataclass(frozen=True)
class StatementStance:
    """A statement and the way (``agree`` or ``disagree``) a set of people lean on it."""

    index: int
    direction: str
    rate: float  # smoothed share voting that way in the group (or the lowest group)
    score: float


def _counts(values: FloatMatrix) -> tuple[npt.NDArray[np.float64], ...]:
    agree = (values == 1).sum(axis=0).astype(np.float64)
    disagree = (values == -1).sum(axis=0).astype(np.float64)
    seen = (~np.isnan(values)).sum(axis=0).astype(np.float64)
    return agree, disagree, seen


def _prop_z(successes: npt.NDArray[np.float64], n: npt.NDArray[np.float64]) -> FloatMatrix:
    """One-proportion z (is the share above one half?), Polis's ``prop-test``."""
    z: FloatMatrix = 2 * np.sqrt(n + 1) * ((successes + 1) / (n + 1) - 0.5)
    return z


def _two_prop_z(
    s1: npt.NDArray[np.float64], n1: npt.NDArray[np.float64],
    s2: npt.NDArray[np.float64], n2: npt.NDArray[np.float64],
) -> FloatMatrix:
    """Two-proportion z (is the group's share above the rest's?), Polis's ``two-prop-test``."""
    p1 = (s1 + 1) / (n1 + 2)
    p2 = (s2 + 1) / (n2 + 2)
    pooled = (s1 + s2 + 2) / (n1 + n2 + 4)
    denom = np.sqrt(pooled * (1 - pooled) * (1 / (n1 + 2) + 1 / (n2 + 2)))
    z: FloatMatrix = np.divide(p1 - p2, denom, out=np.zeros_like(p1), where=denom > 0)
    return z


def representative(values: FloatMatrix, labels: npt.NDArray[np.int64], group: int,
                   limit: int = MAX_REPRESENTATIVE) -> list[StatementStance]:
    """The statements that best tell this group apart, strongest first."""
    inside = values[labels == group]
    outside = values[labels != group]
    a_in, d_in, n_in = _counts(inside)
    a_out, d_out, n_out = _counts(outside)
    stances: list[StatementStance] = []
    for direction, s_in, s_out in (("agree", a_in, a_out), ("disagree", d_in, d_out)):
        p_in = (s_in + 1) / (n_in + 2)
        p_out = (s_out + 1) / (n_out + 2)
        score = p_in / p_out * p_in
        ok = (
            (p_in > 0.5)
            & (_prop_z(s_in, n_in) > Z90)
            & (_two_prop_z(s_in, n_in, s_out, n_out) > Z90)
        )
        stances += [
            StatementStance(int(j), direction, float(p_in[j]), float(score[j]))
            for j in np.flatnonzero(ok)
        ]
    stances.sort(key=lambda s: (-s.score, s.index))
    chosen: list[StatementStance] = []
    used: set[int] = set()
    for stance in stances:
        if stance.index not in used:
            chosen.append(stance)
            used.add(stance.index)
        if len(chosen) == limit:
            break
    return chosen


def group_rates(values: FloatMatrix, labels: npt.NDArray[np.int64],
                groups: int) -> tuple[FloatMatrix, FloatMatrix, FloatMatrix]:
    """Smoothed agree and disagree rates, and vote counts: arrays of groups x statements."""
    agree = np.zeros((groups, values.shape[1]))
    disagree = np.zeros_like(agree)
    seen = np.zeros_like(agree)
    for g in range(groups):
        a, d, n = _counts(values[labels == g])
        agree[g] = (a + 1) / (n + 2)
        disagree[g] = (d + 1) / (n + 2)
        seen[g] = n
    return agree, disagree, seen


def consensus(values: FloatMatrix, labels: npt.NDArray[np.int64], groups: int,
              limit: int = MAX_CONSENSUS) -> list[StatementStance]:
    """Statements a majority of every group agrees (or disagrees) with, strongest first."""
    if groups == 0:
        return []
    agree, disagree, _ = group_rates(values, labels, groups)
    stances: list[StatementStance] = []
    for direction, rates in (("agree", agree), ("disagree", disagree)):
        product = rates.prod(axis=0)
        lowest = rates.min(axis=0)
        stances += [
            StatementStance(int(j), direction, float(lowest[j]), float(product[j]))
            for j in np.flatnonzero(lowest > 0.5)
        ]
    stances.sort(key=lambda s: (-s.score, s.index))
    return stances[:limit]


def divisive(values: FloatMatrix, labels: npt.NDArray[np.int64], groups: int,
             limit: int = MAX_CONSENSUS) -> list[tuple[int, FloatMatrix]]:
    """Statements where one group mostly agrees and another mostly disagrees ("where they
    split"), widest gap first: (statement index, agree rate per group)."""
    if groups < 2:
        return []
    agree, disagree, _ = group_rates(values, labels, groups)
    gap = agree.max(axis=0) - agree.min(axis=0)
    split = (agree.max(axis=0) > 0.5) & (disagree.max(axis=0) > 0.5)
    order = [int(j) for j in np.argsort(-gap, kind="stable") if split[j]]
    return [(j, agree[:, j]) for j in order[:limit]]
