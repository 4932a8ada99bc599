"""Benchmark: red-dwarf 0.4.0's Polis pipeline on the same folders, for docs/DEPENDENCIES.md.

red-dwarf is not a dependency of engage; run this with an interpreter that has it (and pandas)
installed, e.g. a scratch venv: ``python -m venv /tmp/rd && /tmp/rd/bin/pip install
red-dwarf==0.4.0 && /tmp/rd/bin/python bench/deliberation_reddwarf.py``. Reads the CSVs with
the standard library only (engage itself need not be importable there). Prints the adjusted
Rand index against Polis's ``group-id`` per conversation, the median, and the time per run.

    python bench/deliberation_reddwarf.py [--data DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

from reddwarf.implementations.polis import run_pipeline
from sklearn.metrics import adjusted_rand_score

DEFAULT_DATA = next(
    (p / "shared" / "data" / "polis" for p in Path(__file__).resolve().parents
     if (p / "shared" / "data" / "polis").is_dir()),
    Path("shared/data/polis"),
)


def load(folder: Path) -> tuple[list[dict[str, int]], list[int], dict[int, int]]:
    with (folder / "comments.csv").open(newline="", encoding="utf-8") as handle:
        mod_out = [int(r["comment-id"]) for r in csv.DictReader(handle)
                   if r["moderated"] == "-1"]
    votes: list[dict[str, int]] = []
    if (folder / "votes.csv").exists():
        with (folder / "votes.csv").open(newline="", encoding="utf-8") as handle:
            votes = [{"participant_id": int(r["voter-id"]), "statement_id": int(r["comment-id"]),
                      "vote": int(r["vote"]), "modified": int(r["timestamp"])}
                     for r in csv.DictReader(handle)]
    groups: dict[int, int] = {}
    with (folder / "participants-votes.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for r in reader:
            pid = int(r["participant"])
            if r["group-id"]:
                groups[pid] = int(r["group-id"])
            if not (folder / "votes.csv").exists():
                votes += [{"participant_id": pid, "statement_id": int(c), "vote": int(v),
                           "modified": 0} for c, v in r.items() if c.isdigit() and v]
    latest: dict[tuple[int, int], dict[str, int]] = {}
    for vote in sorted(votes, key=lambda v: v["modified"]):  # the latest vote counts
        latest[(vote["participant_id"], vote["statement_id"])] = vote
    return list(latest.values()), mod_out, groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scores = []
    for folder in sorted(p for p in args.data.iterdir() if (p / "comments.csv").exists()):
        votes, mod_out, groups = load(folder)
        start = time.perf_counter()
        result = run_pipeline(votes=votes, mod_out_statement_ids=mod_out,
                              random_state=args.seed)
        took = time.perf_counter() - start
        labels = result.participants_df["cluster_id"]
        people = sorted(groups)
        ours = [-1 if p not in labels.index or labels.isna()[p] else int(labels[p])
                for p in people]
        ari = adjusted_rand_score([groups[p] for p in people], ours)
        scores.append(ari)
        print(f"{folder.name:42} {ari:6.3f} {took:6.2f} s")
    print(f"median ARI over {len(scores)} conversations: {statistics.median(scores):.3f}")


if __name__ == "__main__":
    main()
