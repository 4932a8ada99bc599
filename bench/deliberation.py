"""Benchmark: fidelity to Polis's own opinion groups, and the analysis's speed.

For every Polis export folder under DATA (default ``../shared/data/polis`` beside the
repository, or ``--data``), runs engage's analysis on the votes and prints the adjusted Rand
index between engage's groups and Polis's ``group-id`` (over the participants Polis grouped;
one engage did not cluster counts as a group of its own), then the median. Then times the
analysis of a synthetic conversation of 2,000 participants x 1,000 statements.

    .venv/bin/python bench/deliberation.py [--data DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from engage.deliberation.analysis import analyze
from engage.deliberation.polis_format import PolisExport, read_export
from engage.deliberation.votes import VoteMatrix, build_matrix

DEFAULT_DATA = next(
    (p / "shared" / "data" / "polis" for p in Path(__file__).resolve().parents
     if (p / "shared" / "data" / "polis").is_dir()),
    Path("shared/data/polis"),
)


def matrix_of(export: PolisExport) -> VoteMatrix:
    out = [c.id for c in export.comments if c.moderated == -1]
    return build_matrix(export.votes, moderated_out=out)


def fidelity(folder: Path) -> tuple[float, int, int, int]:
    """ARI, engage's k, Polis's k, participants compared."""
    export = read_export(folder)
    result = analyze(matrix_of(export))
    people = [p for p, g in export.groups.items() if g is not None]
    theirs = [export.groups[p] for p in people]
    ours = [result.membership.get(p) for p in people]
    ours_labels = [-1 if g is None else g for g in ours]
    ari = float(adjusted_rand_score(theirs, ours_labels))
    return ari, len(result.groups), len(set(theirs)), len(people)


def synthetic(participants: int, statements: int, seed: int = 0) -> VoteMatrix:
    """Three opinion camps, each participant voting on a random 5-40% of statements."""
    rng = np.random.default_rng(seed)
    camp = rng.integers(0, 3, participants)
    leaning = rng.choice([-1.0, 0.0, 1.0], size=(3, statements))
    values = np.where(rng.random((participants, statements)) < 0.8, leaning[camp],
                      rng.choice([-1.0, 0.0, 1.0], size=(participants, statements)))
    coverage = rng.uniform(0.05, 0.4, participants)
    values[rng.random((participants, statements)) > coverage[:, None]] = np.nan
    return VoteMatrix(
        participants=tuple(str(i) for i in range(participants)),
        statements=tuple(str(j) for j in range(statements)),
        values=values,
        moderated_votes=np.zeros(participants, dtype=np.int64),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.data.is_dir():
        scores: list[float] = []
        print(f"{'conversation':42} {'ARI':>6} {'k':>3} {'polis k':>8} {'compared':>9}")
        for folder in sorted(p for p in args.data.iterdir() if (p / "comments.csv").exists()):
            ari, k, polis_k, n = fidelity(folder)
            scores.append(ari)
            print(f"{folder.name:42} {ari:6.3f} {k:3d} {polis_k:8d} {n:9d}")
        print(f"median ARI over {len(scores)} conversations: {statistics.median(scores):.3f}")
    else:
        print(f"no Polis data at {args.data}: fidelity skipped")
    matrix = synthetic(2000, 1000)
    timings = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        analyze(matrix)
        timings.append(time.perf_counter() - start)
    print(f"analysis of 2,000 participants x 1,000 statements: "
          f"{min(timings):.2f}-{max(timings):.2f} s over {args.repeat} runs")


if __name__ == "__main__":
    main()
