"""Small-cell suppression with complementary suppression, and optional Laplace noise.

A table is a cube: every key is a tuple of dimension values, ``"all"`` marking a margin
(the total over that dimension). Each margin and the cells it adds up form a *line*:
``margin = sum(children)``. A withheld cell could be recovered from a line in which it is the
only unknown, and two withheld cells that together describe fewer than ``k`` people leak
their sum. So, until nothing changes, in every line:

* if exactly one member is withheld, withhold the smallest published child as well (or the
  margin when no child is left);
* if the margin is published and the withheld children together describe fewer than ``k``
  people, withhold the next smallest child.

Suppression only grows, so the loop ends. Decisions use true counts; noise (if any) is added
afterwards to published counts only.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ALL = "all"
Key = tuple[str, ...]


@dataclass(frozen=True)
class Suppression:
    """``withheld`` maps each hidden key to why: ``"small"`` or ``"complementary"``."""

    withheld: dict[Key, str]

    def published(self, key: Key) -> bool:
        return key not in self.withheld


def lines(keys: list[Key]) -> list[tuple[Key, list[Key]]]:
    """Every (margin, children) relation present in the cube."""
    children: dict[tuple[Key, int], list[Key]] = defaultdict(list)
    present = set(keys)
    for key in keys:
        for d, value in enumerate(key):
            if value == ALL:
                continue
            parent = (*key[:d], ALL, *key[d + 1:])
            if parent in present:
                children[(parent, d)].append(key)
    return [(parent, sorted(kids)) for (parent, _), kids in sorted(children.items())]


def suppress(
    counts: Mapping[Key, int], *, k: int, published_elsewhere: Sequence[Sequence[Key]] = ()
) -> Suppression:
    """Withhold every cell with 0 < count < k, then complementary cells until no line leaks.

    ``published_elsewhere`` lists groups of cells whose total another table publishes (the
    neighbourhoods of one district, whose district total is in the district table): they are
    lines whose margin the reader always knows.
    """
    withheld: dict[Key, str] = {key: "small" for key, n in counts.items() if 0 < n < k}
    relations: list[tuple[Key | None, list[Key]]] = list(lines(list(counts)))
    relations += [(None, sorted(group)) for group in published_elsewhere if len(group) > 1]
    changed = True
    while changed:
        changed = False
        for parent, kids in relations:
            hidden_kids = [c for c in kids if c in withheld]
            parent_hidden = parent is not None and parent in withheld
            hidden = len(hidden_kids) + (1 if parent_hidden else 0)
            if hidden == 0:
                continue
            leaks = hidden == 1 or (
                not parent_hidden and sum(counts[c] for c in hidden_kids) < k
            )
            if not leaks:
                continue
            candidates = sorted(
                (c for c in kids if c not in withheld and counts[c] > 0),
                key=lambda c: (counts[c], c),
            )
            if candidates:
                withheld[candidates[0]] = "complementary"
                changed = True
            elif parent is not None and not parent_hidden:
                withheld[parent] = "complementary"
                changed = True
    return Suppression(withheld)


def laplace_noise(scale: float, rng: random.Random) -> float:
    """One draw from Laplace(0, scale): the difference of two exponentials."""
    return rng.expovariate(1.0 / scale) - rng.expovariate(1.0 / scale)


def laplace_counts(
    counts: Mapping[Key, int], *, epsilon: float, rng: random.Random | None = None
) -> dict[Key, int]:
    """Counts plus Laplace(1/epsilon) noise (a resident changes a count by at most 1),
    rounded and floored at 0. ``rng`` is injectable so tests are repeatable; by default
    the noise comes from the operating system's randomness, so it cannot be replayed."""
    if not epsilon or epsilon <= 0 or math.isnan(epsilon):
        raise ValueError("ENGAGE_DP_EPSILON must be a positive number")
    source = rng if rng is not None else random.SystemRandom()
    scale = 1.0 / epsilon
    return {
        key: max(0, round(n + laplace_noise(scale, source)))
        for key, n in sorted(counts.items())
    }
