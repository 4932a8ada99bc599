"""Polis's projection: who is "in" the conversation, PCA with mean imputation, sparsity scaling.

Each rule is Polis's own (polismath ``conversation.clj`` and ``pca.clj``), because the point
is to find the same opinion groups a Polis conversation would:

- a participant is clustered once they have voted on ``min(7, statements)`` statements; while
  fewer than 15 qualify, the most active voters are added;
- the two components are fitted on every participant's votes with each missing vote filled
  with the statement's mean vote (filling with 0 would pull quiet voters to the centre);
- a participant is projected from their own votes only and scaled by
  ``sqrt(statements / votes)``, so someone who voted on few statements is not squashed
  towards the middle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse.linalg import svds  # type: ignore[import-untyped]

from engage.deliberation.votes import FloatMatrix, VoteMatrix

MIN_VOTES = 7
GREEDY_PARTICIPANTS = 15
COMPONENTS = 2


def in_conversation(matrix: VoteMatrix) -> npt.NDArray[np.bool_]:
    """Participants Polis would cluster (see module docstring)."""
    counts = matrix.vote_counts()
    n_statements = len(matrix.statements) + matrix.moderated_statements
    mask = counts >= min(MIN_VOTES, n_statements)
    if matrix.joined_early.size:
        mask |= matrix.joined_early
    missing = GREEDY_PARTICIPANTS - int(mask.sum())
    if missing > 0:
        rest = np.flatnonzero(~mask & (counts > 0))
        order = rest[np.argsort(-counts[rest], kind="stable")]
        mask[order[:missing]] = True
    return mask


@dataclass(frozen=True)
class Projection:
    """Column means (the centre) and the principal components, one row per component."""

    center: FloatMatrix
    components: FloatMatrix


def fit(matrix: VoteMatrix) -> Projection:
    """PCA of the mean-imputed vote matrix (every participant, shown statements)."""
    values = matrix.values
    n_rows, n_cols = values.shape
    voted = ~np.isnan(values)
    counts = voted.sum(axis=0)
    sums = np.where(voted, values, 0.0).sum(axis=0)
    center = np.divide(sums, counts, out=np.zeros(n_cols), where=counts > 0)
    centered = np.where(voted, values - center, 0.0)
    components = np.zeros((COMPONENTS, n_cols))
    rank = min(COMPONENTS, n_rows, n_cols)
    if rank > 0 and np.any(centered):
        vt = _top_components(centered, rank)
        components[:rank] = vt
    return Projection(center=center, components=components)


def _top_components(centered: FloatMatrix, rank: int) -> FloatMatrix:
    """The leading right singular vectors, largest first (Lanczos when the matrix is big)."""
    if min(centered.shape) <= rank + 1 or centered.size < 40_000:
        _, _, vt = np.linalg.svd(centered, full_matrices=False)
        top: FloatMatrix = vt[:rank]
        return top
    _, singular, vt = svds(centered, k=rank, random_state=0)
    order = np.argsort(-singular)
    top = vt[order]
    return top


def project(matrix: VoteMatrix, projection: Projection) -> FloatMatrix:
    """Each participant's position from their own votes, scaled for how many they cast."""
    values = matrix.values
    voted = ~np.isnan(values)
    centered = np.where(voted, values - projection.center, 0.0)
    points = centered @ projection.components.T
    # moderated-out columns are zeros for everyone in Polis: they add to both counts
    n_statements = values.shape[1] + matrix.moderated_statements
    n_votes = voted.sum(axis=1) + matrix.moderated_statements
    scale = np.sqrt(n_statements / np.maximum(n_votes, 1))
    result: FloatMatrix = points * scale[:, None]
    return result
