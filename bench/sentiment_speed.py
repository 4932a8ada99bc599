"""Speed of engage's scorer beside an earlier version of it and plain TextBlob, taking turns.

Each round runs the three in fresh interpreters one after another, so load from other work on
the machine falls on all of them. Rates are texts per second of CPU time (``process_time``):
on a shared, overloaded machine wall-clock time mostly measures the other work. It prints
each round, and the median and range of the ratios. Figures, not pass/fail.

    git archive <earlier commit> engage | tar -x -C /tmp/engage-before
    .venv/bin/python bench/sentiment_speed.py --before /tmp/engage-before [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from sentiment import DEV_FILES, SPANISH_DIR, SPANISH_FILES, find_data_dir, load_rows  # noqa: E402

TIMER = """
import json, sys, time
texts = json.load(open(sys.argv[1], encoding="utf-8"))
if sys.argv[2] == "textblob":
    from textblob import TextBlob
    fn = lambda t: TextBlob(t).sentiment.polarity
else:
    from engage.analytics.sentiment import score as fn
fn("warm up")
started = time.process_time()
for t in texts:
    fn(t)
print(len(texts) / (time.process_time() - started))
"""


def texts_to_time() -> list[str]:
    """Development texts when present, else the Spanish set (every text once)."""
    data = find_data_dir()
    paths = [data / name for name in DEV_FILES] if data else []
    paths = [p for p in paths if p.is_file()] or [SPANISH_DIR / n for n in SPANISH_FILES]
    return [row.text for path in paths for row in load_rows(path)]


def rate(code_root: Path, which: str, texts_file: str) -> float:
    """Texts per second of one scorer, measured in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    out = subprocess.run(
        [sys.executable, "-c", TIMER, texts_file, which],
        env=env,
        cwd=tempfile.gettempdir(),  # so ``engage`` comes from code_root, not the cwd
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="an earlier engage tree")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if not (args.before / "engage" / "analytics" / "sentiment.py").is_file():
        raise SystemExit(f"{args.before}: no engage/analytics/sentiment.py there")
    texts = texts_to_time()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(texts, handle)
    now_vs_before: list[float] = []
    now_vs_textblob: list[float] = []
    print(f"{len(texts)} texts per run; CPU texts/s in each round (before, now, TextBlob)")
    try:
        for number in range(1, args.rounds + 1):
            before = rate(args.before, "engage", handle.name)
            now = rate(ROOT, "engage", handle.name)
            textblob = rate(ROOT, "textblob", handle.name)
            now_vs_before.append(now / before)
            now_vs_textblob.append(now / textblob)
            print(f"  round {number}: {before:,.0f}  {now:,.0f}  {textblob:,.0f}")
    finally:
        os.unlink(handle.name)
    for label, ratios in (("now / before", now_vs_before), ("now / TextBlob", now_vs_textblob)):
        low, mid, high = min(ratios), statistics.median(ratios), max(ratios)
        print(f"{label}: median {mid:.2f}, range {low:.2f}-{high:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
