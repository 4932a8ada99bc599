"""Sentiment benchmark: engage's scorer beside plain TextBlob and vaderSentiment.

Prints, for each human-rated file, Pearson r against the human mean with a bootstrap 95%
range (r does not change when the -4..+4 ratings are divided by 4), 3-class macro-F1 (human
mean on its -4..+4 scale: negative < -0.5 <= neutral <= 0.5 < positive; scorer: negative <
-0.05 <= neutral <= 0.05 < positive) and texts per second with the ratio to TextBlob. For
development files it also prints engage's k-fold cross-validated r (the fitted numbers refit
inside every fold) and an ablation table: r with each writing rule turned off alone. Figures,
not pass/fail.

    .venv/bin/python bench/sentiment.py                    # development files + Spanish set
    .venv/bin/python bench/sentiment.py --data FILE.tsv    # another file (scored, never fitted)
    .venv/bin/python bench/sentiment.py --fit              # refit the numbers on all dev rows
    .venv/bin/python bench/sentiment.py --folds 0 --no-ablation   # quick: figures only

Development files are looked for in $ENGAGE_SENTIMENT_DATA, else in ``shared/data/sentiment``
beside the repository (or one level further up, for worktrees).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sentiment_eval import (  # noqa: E402 - bench/ is put on the path just above
    bootstrap_r,
    cross_validate,
    fit,
    paired_range,
    pearson,
    percentile_range,
    prepare_set,
)

DEV_FILES = ("community_dev.tsv", "hutto2014_amazon_dev.tsv", "hutto2014_movie_dev.tsv")
SPANISH_DIR = ROOT / "bench" / "data" / "sentiment_es"
SPANISH_FILES = ("spanish_dev.tsv", "spanish_test.tsv")
HUMAN_CUT = 0.5
SCORER_CUT = 0.05
MIN_TIMED_TEXTS = 4000  # small files are timed over several passes

__all__ = ["find_data_dir", "load_rows", "macro_f1", "pearson", "three_class"]


def find_data_dir() -> Path | None:
    """$ENGAGE_SENTIMENT_DATA, else ``shared/data/sentiment`` one or two levels above."""
    configured = os.environ.get("ENGAGE_SENTIMENT_DATA")
    if configured:
        return Path(configured)
    for base in (ROOT.parent, ROOT.parent.parent):
        candidate = base / "shared" / "data" / "sentiment"
        if candidate.is_dir():
            return candidate
    return None


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
    scored: list[float]


def load_rows(path: Path) -> list[Row]:
    """Read ``id<TAB>score<TAB>text`` (CRLF or LF), keeping the score on its -4..+4 scale.

    ``#`` lines are comments. A malformed line stops the run with the file, the line number
    and what is wrong with it, rather than being skipped silently.
    """
    rows: list[Row] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t", 2)
            if len(parts) != 3:
                raise SystemExit(f"{path}:{number}: expected id<TAB>score<TAB>text")
            try:
                human = float(parts[1])
            except ValueError:
                raise SystemExit(f"{path}:{number}: score {parts[1]!r} is not a number") from None
            if not -4.0 <= human <= 4.0:
                raise SystemExit(f"{path}:{number}: score {human} is outside -4..+4")
            rows.append(Row(parts[0], human, parts[2]))
    return rows


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


def measure(scorers: dict[str, Callable[[str], float]], rows: Sequence[Row]) -> list[Result]:
    """Score every row with every scorer; speed is each scorer's best of several passes.

    The scorers take turns pass by pass, so a burst of load from other work on the machine
    falls on all of them alike, and the ratio to TextBlob stays meaningful.
    """
    texts = [row.text for row in rows]
    human = [row.human for row in rows]
    for scorer in scorers.values():
        scorer("warm up: load any lazily loaded lexicon before timing")
    passes = max(3, math.ceil(MIN_TIMED_TEXTS / max(1, len(texts))))
    best = dict.fromkeys(scorers, float("inf"))
    scored: dict[str, list[float]] = {}
    for _ in range(passes):
        for name, scorer in scorers.items():
            started = time.perf_counter()
            scored[name] = [scorer(text) for text in texts]
            best[name] = min(best[name], time.perf_counter() - started)
    return [
        Result(
            name,
            pearson(human, scored[name]),
            macro_f1(human, scored[name]),
            len(texts) / best[name] if best[name] > 0 else float("inf"),
            scored[name],
        )
        for name in scorers
    ]


def _fmt_range(low: float, high: float) -> str:
    return f"{low:.3f}-{high:.3f}"


def report(
    name: str,
    rows: Sequence[Row],
    results: Sequence[Result],
    resamples: int,
    cv_scored: list[float] | None,
    folds: int,
) -> None:
    """One table per file: r with its 95% range, CV r for development files, F1, speed."""
    human = [row.human for row in rows]
    scored = {res.name: res.scored for res in results}
    if cv_scored is not None:
        scored["engage CV"] = cv_scored
    boots = bootstrap_r(human, scored, resamples)
    base = next((res.per_second for res in results if res.name == "textblob"), 0.0)
    print(f"\n{name}  ({len(rows)} rows; 95% ranges from {resamples} bootstrap resamples)")
    print("| scorer | r | r 95% range | macro-F1 | texts/s (best) | speed / TextBlob |")
    print("|---|---|---|---|---|---|")
    for res in results:
        ratio = f"{res.per_second / base:.2f}" if base else "-"
        low, high = percentile_range(boots[res.name])
        print(
            f"| {res.name} | {res.r:.3f} | {_fmt_range(low, high)} | {res.f1:.3f} "
            f"| {res.per_second:,.0f} | {ratio} |"
        )
        if res.name == "engage" and cv_scored is not None:
            low, high = percentile_range(boots["engage CV"])
            cv_r, cv_f1 = pearson(human, cv_scored), macro_f1(human, cv_scored)
            print(
                f"| engage, {folds}-fold CV | {cv_r:.3f} | {_fmt_range(low, high)} "
                f"| {cv_f1:.3f} | | |"
            )
    if "vader" in boots:
        for label in ("engage", "engage CV"):
            if label in boots:
                low, high = paired_range(boots[label], boots["vader"])
                print(f"  {label} r minus VADER r: 95% range {low:+.3f} to {high:+.3f}")


def ablation(dev: dict[str, list[Row]]) -> None:
    """r per file with all rules, then the change in r with each rule turned off alone.

    Beside each change: how many texts the rule changes at all (by more than 0.001), so a
    change near zero reads as "rarely used in this genre" or "used, but no help".
    """
    from engage.analytics.sentiment import DEFAULT_RULES, SWITCHES, polarity_of, prepare

    names = list(dev)
    print("\nablation: Pearson r with every rule; with one rule off, the change in r")
    print("and (in brackets) how many texts that rule changes")
    print("| rule turned off | " + " | ".join(names) + " | mean change |")
    print("|---|" + "---|" * (len(names) + 1))
    full: dict[str, list[float]] = {}
    for switch in (None, *SWITCHES):
        rules = DEFAULT_RULES
        if switch is not None:
            rules = dataclasses.replace(DEFAULT_RULES, **{switch: False})
        cells: list[str] = []
        changes: list[float] = []
        for name, rows in dev.items():
            human = [row.human for row in rows]
            scored = [polarity_of(prepare(row.text, rules), rules) for row in rows]
            if switch is None:
                full[name] = scored
                cells.append(f"{pearson(human, scored):.3f}")
                continue
            change = pearson(human, scored) - pearson(human, full[name])
            touched = sum(1 for x, y in zip(scored, full[name], strict=True) if abs(x - y) > 1e-3)
            changes.append(change)
            cells.append(f"{change:+.3f} ({touched:,})")
        mean = f"{sum(changes) / len(changes):+.4f}" if changes else ""
        print(f"| {switch or '(none: all rules on)'} | " + " | ".join(cells) + f" | {mean} |")


def run_fit(dev: dict[str, list[Row]], fit_rows: int) -> None:
    """Refit the numbers on all development rows and print them (to put in Rules)."""
    from sentiment_eval import subsample

    from engage.analytics.sentiment import DEFAULT_RULES, FITTED

    sets = [
        subsample(
            prepare_set(name, [r.human for r in rows], [r.text for r in rows]),
            range(len(rows)),
            fit_rows,
            1,
        )
        for name, rows in dev.items()
    ]
    fitted = fit(sets, DEFAULT_RULES, log=print)
    print("\nfitted numbers (all development rows):")
    for name in FITTED:
        print(f"  {name}: {getattr(fitted, name)}   (shipped {getattr(DEFAULT_RULES, name)})")


def load_spanish() -> dict[str, list[Row]]:
    """The Spanish set shipped in bench/data/sentiment_es (development and held-out halves)."""
    return {
        name.removesuffix(".tsv"): load_rows(SPANISH_DIR / name)
        for name in SPANISH_FILES
        if (SPANISH_DIR / name).is_file()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", help="another .tsv (repeatable)")
    parser.add_argument("--dev-dir", type=Path, help="folder with the development files")
    parser.add_argument("--folds", type=int, default=5, help="k for k-fold CV (0: skip)")
    parser.add_argument("--fit-rows", type=int, default=2000, help="rows per set in each fit")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--only-ablation", action="store_true")
    parser.add_argument("--fit", action="store_true", help="refit the numbers on all dev rows")
    args = parser.parse_args(argv)

    from engage.analytics.sentiment import DEFAULT_RULES, FITTED, SCORER_VERSION

    dev_dir = args.dev_dir or find_data_dir()
    dev: dict[str, list[Row]] = {}
    if dev_dir is not None:
        for name in DEV_FILES:
            if (dev_dir / name).is_file():
                dev[name.removesuffix(".tsv")] = load_rows(dev_dir / name)
    if not dev:
        print("development files not found (set ENGAGE_SENTIMENT_DATA or --dev-dir)")
    if args.fit:
        run_fit(dev, args.fit_rows)
        return 0
    if args.only_ablation:
        ablation({**dev, **load_spanish()})
        return 0
    others = load_spanish()
    for path in args.data or []:
        if not path.is_file():
            raise SystemExit(f"{path}: no such file")
        others[path.name.removesuffix(".tsv")] = load_rows(path)

    print(f"engage scorer {SCORER_VERSION}")
    cv: dict[str, list[float]] = {}
    if dev and args.folds > 1:
        sets = [
            prepare_set(name, [r.human for r in rows], [r.text for r in rows])
            for name, rows in dev.items()
        ]
        print(f"cross-validating: {args.folds} folds, each refitting {len(FITTED)} numbers")
        cv, fitted = cross_validate(sets, DEFAULT_RULES, args.folds, args.fit_rows, log=print)
        for number in FITTED:
            values = sorted(float(getattr(rules, number)) for rules in fitted)
            shipped = getattr(DEFAULT_RULES, number)
            print(f"  {number}: fold fits {values[0]:g}..{values[-1]:g} (shipped {shipped:g})")
    scorers = build_scorers()
    for name, rows in {**dev, **others}.items():
        results = measure(scorers, rows)
        report(name, rows, results, args.resamples, cv.get(name), args.folds)
    if dev and not args.no_ablation:
        ablation({**dev, **load_spanish()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
