"""Grouping by cell and the published figures of one cell: margins rolled up from the finest
cells, means and rates with their confidence intervals, in the export's column order."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from engage.analytics.metrics._dimensions import ALL, LEVELS, LIKERT_ITEMS
from engage.analytics.stats import Estimate, mean_ci, wilson_ci

Key = tuple[str, ...]


def rollup(finest: Mapping[Key, Mapping[str, float]], ndims: int) -> dict[Key, dict[str, float]]:
    """Every margin of the table: each subset of dimensions replaced by ``ALL``."""
    cube: dict[Key, dict[str, float]] = {}
    for key, stats in finest.items():
        for mask in itertools.product((False, True), repeat=ndims):
            target = tuple(ALL if m else v for v, m in zip(key, mask, strict=True))
            bucket = cube.setdefault(target, {})
            for name, value in stats.items():
                bucket[name] = bucket.get(name, 0.0) + value
    if not cube:
        cube[tuple(ALL for _ in range(ndims))] = {}
    return cube


def _estimate_columns(prefix: str, est: Estimate, digits: int) -> dict[str, float | None]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, digits)

    return {f"{prefix}": r(est.value), f"{prefix}_low": r(est.low), f"{prefix}_high": r(est.high)}


def _mean(stats: Mapping[str, float], prefix: str) -> Estimate:
    return mean_ci(int(stats.get(f"{prefix}__n", 0)), stats.get(f"{prefix}__s", 0.0),
                   stats.get(f"{prefix}__ss", 0.0))


def figures_for(
    stats: Mapping[str, float], rate: tuple[int, int] | None
) -> dict[str, float | None]:
    """The published figures of one cell, in a fixed column order (the export schema)."""
    out: dict[str, float | None] = {"respondents": float(int(stats.get("respondents", 0)))}
    if rate and rate[0] > 0:
        out.update(_estimate_columns("response_rate", wilson_ci(rate[1], rate[0]), 3))
    else:
        out.update({"response_rate": None, "response_rate_low": None, "response_rate_high": None})
    out.update(_estimate_columns("trust_index", _mean(stats, "trust_index"), 1))
    out.update(_estimate_columns("safety_index", _mean(stats, "safety_index"), 1))
    for item in LIKERT_ITEMS:
        n = int(stats.get(f"{item}__n", 0))
        out[f"{item}_n"] = float(n)
        out.update(_estimate_columns(f"{item}_mean", _mean(stats, item), 2))
        for level in LEVELS:
            count = stats.get(f"{item}__l{level}", 0.0)
            out[f"{item}_pct_{level}"] = round(100.0 * count / n, 1) if n else None
    sentiment = _mean(stats, "sentiment")
    out["sentiment_n"] = float(sentiment.n)
    out.update(_estimate_columns("sentiment_mean", sentiment, 3))
    neg = int(stats.get("sentiment__neg", 0))
    pos = int(stats.get("sentiment__pos", 0))
    classes = (("negative", neg), ("neutral", sentiment.n - neg - pos), ("positive", pos))
    for label, count in classes:
        out.update(_estimate_columns(f"share_{label}", wilson_ci(count, sentiment.n), 3))
    return out


FIGURE_COLUMNS: tuple[str, ...] = tuple(figures_for({}, None).keys())
