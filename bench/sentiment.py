"""Sentiment benchmark: engage's scorer beside plain TextBlob and vaderSentiment.

Prints, for each human-rated file, Pearson r against the human mean (r does not change when
the -4..+4 ratings are divided by 4), 3-class macro-F1 (human mean on its -4..+4 scale:
negative < -0.5 <= neutral <= 0.5 < positive; scorer: negative < -0.05 <= neutral <= 0.05 <
positive, as ../shared/data/sentiment/README.md says) and texts per second. Figures, not
pass/fail.

    .venv/bin/python bench/sentiment.py                      # every file in the shared folder
    .venv/bin/python bench/sentiment.py --data FILE.tsv      # one file
    .venv/bin/python bench/sentiment.py --half odd           # only odd-numbered rows (held out)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DIR = ROOT.parent / "shared" / "data" / "sentiment"
DEFAULT_FILES = ("community_dev.tsv", "hutto2014_amazon_dev.tsv", "hutto2014_movie_dev.tsv")
HUMAN_CUT = 0.5
SCORER_CUT = 0.05
MIN_TIMED_TEXTS = 4000  # small files are timed over several passes


@dataclass(frozen=True)
class Row:
    """One human-rated text; ``human`` is the mean rating as in the file (-4..+4)."""

    id: str
    human: float
    text: str


@dataclass(frozen=True)
class Result:
    """Figures for one scorer on one file."""

    name: str
    r: float
    f1: float
    per_second: float


def load_rows(path: Path) -> list[Row]:
    """Read ``id<TAB>score<TAB>text`` (CRLF or LF), keeping the score on its -4..+4 scale."""
    rows: list[Row] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for line in handle:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t", 2)
            if len(parts) != 3:
                continue
            rows.append(Row(parts[0], float(parts[1]), parts[2]))
    return rows


def select_half(rows: Sequence[Row], half: str) -> list[Row]:
    """Rows at even or odd positions: a fixed split for a held-out check."""
    if half == "all":
        return list(rows)
    start = 0 if half == "even" else 1
    return list(rows[start::2])


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation; 0.0 when either side has no variance."""
    n = len(xs)
    if n == 0:
        return 0.0
    mx = sum(xs) / n
    my = sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return 0.0
    return sxy / math.sqrt(sxx * syy)


def three_class(value: float, cut: float) -> int:
    """-1, 0 or 1 with a neutral band of +-cut (the band itself is neutral)."""
    if value < -cut:
        return -1
    if value > cut:
        return 1
    return 0


def macro_f1(human: Sequence[float], scored: Sequence[float]) -> float:
    """Unweighted mean F1 over negative, neutral and positive."""
    gold = [three_class(h, HUMAN_CUT) for h in human]
    pred = [three_class(s, SCORER_CUT) for s in scored]
    f1s: list[float] = []
    for label in (-1, 0, 1):
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p != label)
        denom = 2 * tp + fp + fn
        f1s.append(2 * tp / denom if denom else 0.0)
    return sum(f1s) / len(f1s)


def build_scorers() -> dict[str, Callable[[str], float]]:
    """engage, plain TextBlob (PatternAnalyzer) and VADER's compound score."""
    from textblob import TextBlob

    from engage.analytics.sentiment import score

    scorers: dict[str, Callable[[str], float]] = {
        "engage": score,
        "textblob": lambda text: float(TextBlob(text).sentiment.polarity),
    }
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        print("note: vaderSentiment not installed (pip install -e '.[dev]'); skipping it")
    else:
        vader = SentimentIntensityAnalyzer()
        scorers["vader"] = lambda text: float(vader.polarity_scores(text)["compound"])
    return scorers


def measure(name: str, scorer: Callable[[str], float], rows: Sequence[Row]) -> Result:
    """Score every row; speed is the best of several timed passes (other load only slows)."""
    texts = [row.text for row in rows]
    scorer("warm up: load any lazily loaded lexicon before timing")
    passes = max(3, math.ceil(MIN_TIMED_TEXTS / max(1, len(texts))))
    best = float("inf")
    scored: list[float] = []
    for _ in range(passes):
        started = time.perf_counter()
        scored = [scorer(text) for text in texts]
        best = min(best, time.perf_counter() - started)
    human = [row.human for row in rows]
    rate = len(texts) / best if best > 0 else float("inf")
    return Result(name, pearson(human, scored), macro_f1(human, scored), rate)


def report(path: Path, rows: Sequence[Row], results: Sequence[Result]) -> None:
    """One table per file."""
    print(f"\n{path.name}  ({len(rows)} rows)")
    print(f"  {'scorer':<10} {'pearson r':>10} {'macro-F1':>10} {'texts/s (best)':>15}")
    for res in results:
        print(f"  {res.name:<10} {res.r:>10.3f} {res.f1:>10.3f} {res.per_second:>15,.0f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", help="a .tsv file (repeatable)")
    parser.add_argument("--half", choices=("all", "even", "odd"), default="all")
    args = parser.parse_args(argv)

    paths: list[Path] = args.data or [DEFAULT_DIR / name for name in DEFAULT_FILES]
    present = [p for p in paths if p.is_file()]
    if not present:
        print(f"no data files found (looked for {', '.join(str(p) for p in paths)}); skipping")
        return 0
    for missing in sorted(set(paths) - set(present)):
        print(f"skipping missing file {missing}")

    from engage.analytics.sentiment import SCORER_VERSION

    print(f"engage scorer {SCORER_VERSION}; rows: {args.half}")
    scorers = build_scorers()
    for path in present:
        rows = select_half(load_rows(path), args.half)
        results = [measure(name, fn, rows) for name, fn in scorers.items()]
        report(path, rows, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
