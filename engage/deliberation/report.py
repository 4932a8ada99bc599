"""What an analysis may show, and to whom.

``analysis_json`` is the operator's view (``engage deliberation analyze --json``): groups,
consensus and each voter's group by source id (a Polis voter-id, or "m" + member id for a
resident: never a phone number or chat id). ``published`` is what leaves the staff room (the
mediator's briefing, the map picture, a public page): a group smaller than the minimum cell
size is never shown on its own (small groups are pooled, or left out when even the pool is
small), shares are rounded to 5 points, and a statement's shares are shown only when at least
a minimum cell of people voted on it, so no output lets anyone tell how one resident voted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engage.deliberation.analysis import Analysis
from engage.deliberation.repness import StatementStance, group_rates
from engage.deliberation.votes import FloatMatrix
from engage.storage.tables.deliberation import DelibStatement


def _label(index: int) -> str:
    return "ABCDE"[index] if index < 5 else str(index + 1)


def _text(statements: Mapping[str, DelibStatement], key: str) -> tuple[str, str]:
    s = statements.get(key)
    if s is None:
        return key, ""
    return (s.source_id or str(s.id)), s.text


def _stance(analysis: Analysis, stance: StatementStance,
            statements: Mapping[str, DelibStatement]) -> dict[str, Any]:
    sid, text = _text(statements, analysis.statement(stance.index))
    return {"statement": sid, "text": text, "direction": stance.direction,
            "rate": round(stance.rate, 3)}


def analysis_json(analysis: Analysis, statements: Mapping[str, DelibStatement],
                  min_cell: int) -> dict[str, Any]:
    """The contract of ``analyze --json``: groups, consensus, participants."""
    groups = []
    for g in analysis.groups:
        small = g.size < min_cell
        groups.append({
            "id": g.id, "label": _label(g.id), "size": None if small else g.size,
            "suppressed": small,
            "representative": [] if small else [
                _stance(analysis, s, statements) for s in g.representative],
        })
    return {
        "voters": len(analysis.matrix.participants),
        "clustered": int(analysis.clustered.sum()),
        "statements": len(analysis.matrix.statements),
        "groups": groups,
        "consensus": [_stance(analysis, s, statements) for s in analysis.consensus],
        "participants": analysis.membership,
        "min_cell_size": min_cell,
    }


@dataclass(frozen=True)
class PublishedGroup:
    label: str
    size: int
    center: tuple[float, float]
    members: tuple[int, ...]  # group ids pooled into this one


@dataclass(frozen=True)
class PublishedStatement:
    text: str
    agree_pct: dict[str, int]  # published group label -> rounded agree share
    key: str = ""  # the statement's id in the vote matrix (text)


@dataclass(frozen=True)
class Published:
    groups: list[PublishedGroup]
    agree: list[PublishedStatement]
    split: list[PublishedStatement]
    voters: int


def _round5(rate: float) -> int:
    return int(5 * round(rate * 100 / 5))


@dataclass(frozen=True)
class Pooled:
    """Clustered voters' votes with their published group index (-1: left out)."""

    groups: list[PublishedGroup]
    values: FloatMatrix  # clustered voters x statements
    index: npt.NDArray[np.int64]  # published group index per clustered voter, or -1


def pool_groups(analysis: Analysis, min_cell: int) -> Pooled:
    """The groups that may be shown: each of at least ``min_cell`` people, smaller ones pooled
    as "others" (left out when even the pool is small)."""
    clustered = analysis.clustered
    positions = analysis.positions[clustered]
    labels = np.array([analysis.membership[p] for p, inside
                       in zip(analysis.matrix.participants, clustered, strict=True) if inside],
                      dtype=np.int64)
    shown: list[list[int]] = [[g.id] for g in analysis.groups if g.size >= min_cell]
    small = [g.id for g in analysis.groups if g.size < min_cell]
    if small and sum(analysis.groups[i].size for i in small) >= min_cell:
        shown.append(small)
    groups: list[PublishedGroup] = []
    pooled = np.full(len(labels), -1, dtype=np.int64)
    for index, ids in enumerate(shown):
        mask = np.isin(labels, ids)
        pooled[mask] = index
        center = positions[mask].mean(axis=0)
        label = _label(index) if len(ids) == 1 else "others"
        groups.append(PublishedGroup(label, int(mask.sum()), (float(center[0]),
                                     float(center[1])), tuple(ids)))
    return Pooled(groups, analysis.matrix.values[clustered], pooled)


def published(analysis: Analysis, statements: Mapping[str, DelibStatement],
              min_cell: int) -> Published:
    """Groups of at least ``min_cell`` people (smaller ones pooled), consensus and splits."""
    pool = pool_groups(analysis, min_cell)
    groups, keep = pool.groups, pool.index >= 0
    values, pooled = pool.values, pool.index
    enough = (~np.isnan(values[keep])).sum(axis=0) >= min_cell
    agree_rates, _, seen = group_rates(values[keep], pooled[keep], len(groups))

    def statement(index: int) -> PublishedStatement | None:
        if not enough[index] or (seen[:, index] < min_cell).any():
            return None
        key = analysis.statement(index)
        _, text = _text(statements, key)
        return PublishedStatement(text, {g.label: _round5(agree_rates[i, index])
                                         for i, g in enumerate(groups)}, key)

    agree = [s for s in (statement(c.index) for c in analysis.consensus
                         if c.direction == "agree") if s]
    split = [s for s in (statement(j) for j, _ in analysis.divisive) if s]
    return Published(groups, agree, split if len(groups) > 1 else [],
                     len(analysis.matrix.participants))


def group_shares(analysis: Analysis, min_cell: int) -> dict[str, dict[str, dict[str, int]]]:
    """Per statement (id as text) and published group label: the rounded agree, disagree and
    pass shares of the group's votes on it. The same rules as ``published``: pooled groups
    only, and a statement gets shares only when at least ``min_cell`` people voted on it in
    all and in every group; otherwise it is absent (the page says "withheld")."""
    pool = pool_groups(analysis, min_cell)
    keep = pool.index >= 0
    values, index = pool.values[keep], pool.index[keep]
    enough = (~np.isnan(values)).sum(axis=0) >= min_cell
    out: dict[str, dict[str, dict[str, int]]] = {}
    if not pool.groups:
        return out
    for j, key in enumerate(analysis.matrix.statements):
        column = [values[index == g, j] for g in range(len(pool.groups))]
        seen = [int((~np.isnan(c)).sum()) for c in column]
        if not enough[j] or min(seen) < min_cell:
            continue
        out[key] = {g.label: {name: _round5(float((c == v).sum()) / n) for name, v
                              in (("agree", 1), ("disagree", -1), ("pass", 0))}
                    for g, c, n in zip(pool.groups, column, seen, strict=True)}
    return out
