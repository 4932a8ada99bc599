"""Confidence intervals without numpy/scipy: Student t for means, Wilson score for shares.

Kept exact (incomplete-beta t quantile, not a normal shortcut) because cells are small by
design: a cell of 10 people needs t(9) = 2.262, not 1.96.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% interval (``low``/``high`` None when n is too small)."""

    value: float | None
    low: float | None
    high: float | None
    n: int


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the regularized incomplete beta (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2.0, 0.5, x)
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Inverse of :func:`t_cdf` by bisection on a bracket (monotone, so always converges)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if df <= 0:
        raise ValueError("df must be positive")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2.0


_T975: dict[int, float] = {}


def t975(df: int) -> float:
    """Two-sided 95% critical value of t, cached per df (normal beyond df 1000)."""
    if df > 1000:
        return Z95
    if df not in _T975:
        _T975[df] = t_quantile(0.975, df)
    return _T975[df]


def mean_ci(n: int, total: float, total_sq: float) -> Estimate:
    """Mean and t-interval from sufficient statistics (count, sum, sum of squares).

    Sufficient statistics are what SQL ``GROUP BY`` returns cheaply and what add up across
    cells, so margins are rolled up without a second pass over the rows.
    """
    if n <= 0:
        return Estimate(None, None, None, 0)
    mean = total / n
    if n < 2:
        return Estimate(mean, None, None, n)
    var = max(0.0, (total_sq - n * mean * mean) / (n - 1))
    half = t975(n - 1) * math.sqrt(var / n)
    return Estimate(mean, mean - half, mean + half, n)


def wilson_ci(successes: int, n: int, z: float = Z95) -> Estimate:
    """Share with the Wilson score interval (stays inside [0, 1], sane near 0 and 1)."""
    if n <= 0:
        return Estimate(None, None, None, 0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Estimate(p, low, high, n)
