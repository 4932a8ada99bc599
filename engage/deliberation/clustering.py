"""Opinion groups: Polis's two-level k-means with k chosen by silhouette.

Participants are first gathered into up to 100 small "base clusters"; the base clusters'
centres (weighted by how many people each holds) are then grouped into k = 2..5 opinion
groups, and the k whose grouping has the best silhouette over the base clusters wins. Working
on base clusters is what makes the choice of k stable: single unusual voters cannot open a
group of their own. Polis caps k at ``2 + base clusters / 12`` so a small conversation is not
split finely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from engage.deliberation.votes import FloatMatrix

BASE_CLUSTERS = 100
MAX_GROUPS = 5
RESTARTS = 10
SEED = 0

Labels = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Grouping:
    """Group label per clustered participant, the silhouette per k tried, the chosen k."""

    labels: Labels
    k: int
    silhouettes: dict[int, float]
    base_labels: Labels
    base_centers: FloatMatrix


def _kmeans(
    points: FloatMatrix, k: int, weights: npt.NDArray[np.float64] | None = None
) -> tuple[Labels, FloatMatrix]:
    model = KMeans(n_clusters=k, n_init=RESTARTS, random_state=SEED)
    model.fit(points, sample_weight=weights)
    labels: Labels = model.labels_.astype(np.int64)
    centers: FloatMatrix = model.cluster_centers_
    return labels, centers


def base_clusters(points: FloatMatrix) -> tuple[Labels, FloatMatrix]:
    """Up to ``BASE_CLUSTERS`` small clusters; identical positions always share one."""
    distinct = np.unique(points, axis=0)
    k = min(BASE_CLUSTERS, len(distinct))
    if k == len(distinct):
        _, labels = np.unique(points, axis=0, return_inverse=True)
        return labels.reshape(-1).astype(np.int64), distinct
    return _kmeans(points, k)


def max_groups(n_base: int) -> int:
    """Polis's cap: at most 5 groups, and 2 + one more per 12 base clusters."""
    return min(MAX_GROUPS, 2 + n_base // 12)


def group(points: FloatMatrix) -> Grouping:
    """Base clusters, then weighted k-means on their centres for each k; best silhouette wins."""
    if len(points) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Grouping(empty, 0, {}, empty, np.zeros((0, points.shape[1])))
    base_labels, centers = base_clusters(points)
    weights = np.bincount(base_labels, minlength=len(centers)).astype(np.float64)
    if len(centers) < 3:
        # too few distinct positions to compare groupings: each position is a group
        labels = base_labels.copy()
        return Grouping(labels, len(centers), {}, base_labels, centers)
    silhouettes: dict[int, float] = {}
    groupings: dict[int, Labels] = {}
    for k in range(2, max_groups(len(centers)) + 1):
        if k >= len(centers):
            break
        center_labels, _ = _kmeans(centers, k, weights)
        if len(np.unique(center_labels)) < 2:
            continue
        silhouettes[k] = float(silhouette_score(centers, center_labels))
        groupings[k] = center_labels
    if not groupings:
        labels = np.zeros(len(points), dtype=np.int64)
        return Grouping(labels, 1, silhouettes, base_labels, centers)
    best = max(silhouettes, key=lambda k: (silhouettes[k], -k))
    labels = _relabel_by_size(groupings[best][base_labels])
    return Grouping(labels, best, silhouettes, base_labels, centers)


def _relabel_by_size(labels: Labels) -> Labels:
    """Group 0 is the largest, then 1, ...: stable ids for reports."""
    sizes = np.bincount(labels)
    order = sorted(range(len(sizes)), key=lambda g: (-sizes[g], g))
    mapping = np.empty(len(sizes), dtype=np.int64)
    for new, old in enumerate(order):
        mapping[old] = new
    result: Labels = mapping[labels]
    return result
