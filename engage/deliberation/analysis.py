"""The whole pipeline: vote matrix -> projection -> opinion groups -> statements that matter.

``analyze`` is pure (no database, no clock): the same votes always give the same result, so
golden tests can pin it and the CLI, the briefing and the map all read one ``Analysis``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from engage.deliberation import clustering, projection, repness
from engage.deliberation.votes import FloatMatrix, VoteMatrix


@dataclass(frozen=True)
class GroupSummary:
    id: int
    size: int
    representative: list[repness.StatementStance]


@dataclass(frozen=True)
class Analysis:
    """Groups, consensus and each participant's group (None when not clustered)."""

    matrix: VoteMatrix
    groups: list[GroupSummary]
    consensus: list[repness.StatementStance]
    divisive: list[tuple[int, FloatMatrix]]
    membership: dict[str, int | None]
    positions: FloatMatrix  # 2-D position of each participant (matrix order)
    clustered: npt.NDArray[np.bool_]
    silhouettes: dict[int, float]

    def statement(self, index: int) -> str:
        return self.matrix.statements[index]


def analyze(matrix: VoteMatrix) -> Analysis:
    """Polis's classic pipeline on a vote matrix (see docs/DELIBERATION.md, "Method").

    Runs on one thread: the analysis shares the machine with the webhooks, and measured on a
    busy 2-core host one thread was about twice as fast as BLAS/OpenMP's default of all cores.
    """
    with threadpool_limits(limits=1):
        return _analyze(matrix)


def _analyze(matrix: VoteMatrix) -> Analysis:
    inside = projection.in_conversation(matrix)
    fitted = projection.fit(matrix)
    positions = projection.project(matrix, fitted)
    grouping = clustering.group(positions[inside])
    labels = np.full(len(matrix.participants), -1, dtype=np.int64)
    labels[np.flatnonzero(inside)] = grouping.labels
    values = matrix.values[inside]
    k = grouping.k
    groups = [
        GroupSummary(
            id=g,
            size=int((grouping.labels == g).sum()),
            representative=repness.representative(values, grouping.labels, g),
        )
        for g in range(k)
    ]
    membership = {
        person: (int(label) if label >= 0 else None)
        for person, label in zip(matrix.participants, labels, strict=True)
    }
    return Analysis(
        matrix=matrix,
        groups=groups,
        consensus=repness.consensus(values, grouping.labels, k),
        divisive=repness.divisive(values, grouping.labels, k),
        membership=membership,
        positions=positions,
        clustered=inside,
        silhouettes=grouping.silhouettes,
    )
