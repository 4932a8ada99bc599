"""Opinion groups: Polis's two-level k-means with k chosen by silhouette.

Participants are first gathered into up to 100 small "base clusters" (k-means++ from a fixed
seed, so the same votes give the same groups); the base clusters' centres, weighted by how
many people each holds, are then grouped into k = 2..5 opinion groups and the k whose grouping
has the best silhouette over the base clusters wins. Working on base clusters keeps the choice
of k stable: single unusual voters cannot open a group of their own. Polis caps k at
``2 + base clusters / 12`` so a small conversation is not split finely.

The opinion groups start, as Polis's do, from the first base clusters in the order people
joined (``first_distinct``), not from k-means++: k-means++ seeks far-apart start points, so
one voter far from everyone else tends to end up as a group of one, which Polis (whose groups
form early and follow the conversation as it grows) does not do. Polis refines its groups at
every update, so it does not stay in a clearly poor grouping either: when the grouping reached
from those start points has 10% more within-group spread (k-means inertia) than the best of
ten k-means++ restarts, the best restart is used instead. Measured against Polis's own groups
in docs/DELIBERATION.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans  # type: ignore[import-untyped]
from sklearn.metrics import silhouette_score  # type: ignore[import-untyped]

from engage.deliberation.votes import FloatMatrix

BASE_CLUSTERS = 100
MAX_GROUPS = 5
SEED = 0
RESTARTS = 10
WORSE_OPTIMUM = 1.10  # Polis's start points give way when 10% worse than the best restart

Labels = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Grouping:
    """Group label per clustered participant, the silhouette per k tried, the chosen k."""

    labels: Labels
    k: int
    silhouettes: dict[int, float]
    base_labels: Labels
    base_centers: FloatMatrix


def first_distinct(points: FloatMatrix, k: int) -> FloatMatrix:
    """Polis's start points: the first ``k`` distinct positions, in the points' order."""
    _, first = np.unique(points, axis=0, return_index=True)
    chosen: FloatMatrix = points[np.sort(first)[:k]]
    return chosen


def base_clusters(points: FloatMatrix) -> tuple[Labels, FloatMatrix]:
    """Up to ``BASE_CLUSTERS`` small clusters, numbered by their earliest member."""
    distinct = np.unique(points, axis=0)
    k = min(BASE_CLUSTERS, len(distinct))
    if k == len(distinct):  # few positions: each distinct position is a base cluster
        _, inverse = np.unique(points, axis=0, return_inverse=True)
        labels: Labels = inverse.reshape(-1).astype(np.int64)
        centers: FloatMatrix = distinct
    else:
        model = KMeans(n_clusters=k, n_init=1, random_state=SEED).fit(points)
        labels, centers = model.labels_.astype(np.int64), model.cluster_centers_
    return _by_first_member(labels, centers)


def _by_first_member(labels: Labels, centers: FloatMatrix) -> tuple[Labels, FloatMatrix]:
    """Number base clusters in order of their earliest member, as Polis's ids are: the
    conversation's first voters then seed the opinion groups."""
    present, first = np.unique(labels, return_index=True)
    order = present[np.argsort(first, kind="stable")]
    mapping = np.full(len(centers), -1, dtype=np.int64)
    mapping[order] = np.arange(len(order))
    relabelled: Labels = mapping[labels]
    return relabelled, centers[order]


def max_groups(n_base: int) -> int:
    """Polis's cap: at most 5 groups, and 2 + one more per 12 base clusters."""
    return min(MAX_GROUPS, 2 + n_base // 12)


def group(points: FloatMatrix) -> Grouping:
    """Base clusters, then weighted k-means on their centres for each k; best silhouette wins."""
    if len(points) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Grouping(empty, 0, {}, empty, np.zeros((0, points.shape[1])))
    base_labels, centers = base_clusters(points)
    if len(centers) < 3:
        # too few distinct positions to compare groupings: each position is a group
        return Grouping(base_labels.copy(), len(centers), {}, base_labels, centers)
    groupings, silhouettes = _groupings(base_labels, centers)
    if not groupings:
        labels = np.zeros(len(points), dtype=np.int64)
        return Grouping(labels, 1, silhouettes, base_labels, centers)
    best = max(silhouettes, key=lambda k: (silhouettes[k], -k))
    labels = _relabel_by_size(groupings[best][base_labels])
    return Grouping(labels, best, silhouettes, base_labels, centers)


def _groupings(base_labels: Labels,
               centers: FloatMatrix) -> tuple[dict[int, Labels], dict[int, float]]:
    """For each k, the base clusters' groups and the grouping's silhouette."""
    weights = np.bincount(base_labels, minlength=len(centers)).astype(np.float64)
    silhouettes: dict[int, float] = {}
    groupings: dict[int, Labels] = {}
    for k in range(2, min(max_groups(len(centers)), len(centers) - 1) + 1):
        polis = KMeans(n_clusters=k, init=first_distinct(centers, k), n_init=1).fit(
            centers, sample_weight=weights)
        best = KMeans(n_clusters=k, n_init=RESTARTS, random_state=SEED).fit(
            centers, sample_weight=weights)
        chosen = polis if polis.inertia_ <= WORSE_OPTIMUM * best.inertia_ else best
        labels: Labels = chosen.labels_.astype(np.int64)
        if len(np.unique(labels)) < 2:
            continue
        silhouettes[k] = float(silhouette_score(centers, labels))
        groupings[k] = labels
    return groupings, silhouettes


def _relabel_by_size(labels: Labels) -> Labels:
    """Group 0 is the largest, then 1, ...: stable ids for reports."""
    sizes = np.bincount(labels)
    order = sorted(range(len(sizes)), key=lambda g: (-sizes[g], g))
    mapping = np.empty(len(sizes), dtype=np.int64)
    for new, old in enumerate(order):
        mapping[old] = new
    result: Labels = mapping[labels]
    return result
