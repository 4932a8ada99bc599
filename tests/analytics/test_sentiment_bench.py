"""The sentiment benchmark's statistics: bootstrap ranges, folds, the fit, cross-validation,
file checks, and the Spanish set that ships in the repository (no shared data needed)."""

from __future__ import annotations

import dataclasses
import random
import sys
from pathlib import Path

import pytest

from engage.analytics.sentiment import DEFAULT_RULES, FITTED, score

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
try:
    import sentiment as bench  # bench/sentiment.py
    import sentiment_eval as ev  # bench/sentiment_eval.py
finally:
    sys.path.pop(0)

SPANISH = ROOT / "bench" / "data" / "sentiment_es"
TEXTS = [
    ("I don't feel safe walking home", -2.5),
    ("Thank you, the officers were very kind", 3.0),
    ("not bad, could be worse", 1.0),
    ("police never came", -2.0),
    ("Great, another car broken into", -2.5),
    ("Best meeting in years, felt heard!", 3.2),
    ("too many vacant houses", -1.8),
    ("it was ok but nothing will change", -1.0),
    ("I live on Greenmount", 0.0),
    ("so happy with the youth program", 2.8),
    ("shootings every week, terrified", -3.4),
    ("the mediator really listened", 2.2),
]


def test_pearson_known_values() -> None:
    assert ev.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert ev.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert ev.pearson([1, 1, 1], [1, 2, 3]) == 0.0
    assert ev.pearson([], []) == 0.0


def test_bootstrap_range_brackets_the_sample_r_and_is_paired() -> None:
    rng = random.Random(1)
    human = [rng.uniform(-4, 4) for _ in range(300)]
    good = [h / 4 + rng.gauss(0, 0.3) for h in human]
    poor = [h / 4 + rng.gauss(0, 1.5) for h in human]
    boots = ev.bootstrap_r(human, {"good": good, "poor": poor}, resamples=300)
    assert len(boots["good"]) == len(boots["poor"]) == 300
    low, high = ev.percentile_range(boots["good"])
    assert low < ev.pearson(human, good) < high
    assert high - low < 0.1  # 300 rows pin r down
    d_low, d_high = ev.paired_range(boots["good"], boots["poor"])
    assert 0 < d_low < d_high  # the better scorer is ahead on every plausible resample
    again = ev.bootstrap_r(human, {"good": good, "poor": poor}, resamples=300)
    assert again == boots  # seeded: the same run prints the same ranges


def test_percentile_range_of_nothing_is_nan() -> None:
    low, high = ev.percentile_range([])
    assert low != low and high != high


def test_folds_are_balanced_and_seeded() -> None:
    folds = ev.fold_of(103, 5, seed=7)
    counts = [folds.count(f) for f in range(5)]
    assert sum(counts) == 103 and max(counts) - min(counts) <= 1
    assert folds == ev.fold_of(103, 5, seed=7) != ev.fold_of(103, 5, seed=8)


def _prepared(name: str = "toy") -> ev.Prepared:
    return ev.prepare_set(name, [h for _, h in TEXTS], [t for t, _ in TEXTS])


def test_prepared_scores_match_the_public_scorer() -> None:
    prepared = _prepared()
    assert ev.score_prepared(prepared.items, DEFAULT_RULES) == [score(t) for t, _ in TEXTS]


def test_fit_never_loses_ground_and_stays_in_bounds() -> None:
    sets = [_prepared()]
    worse = dataclasses.replace(DEFAULT_RULES, negation_factor=-0.1, contrast_before=1.0)
    fitted = ev.fit(sets, worse, rounds=1)
    assert ev.objective(sets, fitted) >= ev.objective(sets, worse)
    for name in FITTED:
        low, high = ev.BOUNDS[name]
        assert low <= getattr(fitted, name) <= high
    assert set(ev.BOUNDS) == set(FITTED)


def test_cross_validation_scores_each_row_with_numbers_fitted_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepared = _prepared()
    seen: list[set[int]] = []

    def recording_fit(sets: list[ev.Prepared], start: object, **_: object) -> object:
        seen.append({id(item) for s in sets for item in s.items})
        return start

    monkeypatch.setattr(ev, "fit", recording_fit)
    out, fitted = ev.cross_validate([prepared], DEFAULT_RULES, k=3, fit_rows=100)
    folds = ev.fold_of(len(TEXTS), 3, ev.BOOTSTRAP_SEED)
    assert len(fitted) == 3 and len(out["toy"]) == len(TEXTS)
    for f, training in enumerate(seen):
        held_out = {id(prepared.items[i]) for i, g in enumerate(folds) if g == f}
        assert training and not training & held_out
    assert out["toy"] == [score(t) for t, _ in TEXTS]  # unchanged numbers: same scores


def test_subsample_is_capped_and_seeded() -> None:
    prepared = _prepared()
    sub = ev.subsample(prepared, range(len(TEXTS)), 5, seed=3)
    assert len(sub.human) == 5
    assert sub == ev.subsample(prepared, range(len(TEXTS)), 5, seed=3)


def test_macro_f1_and_three_classes() -> None:
    assert bench.three_class(0.5, 0.5) == 0 and bench.three_class(0.51, 0.5) == 1
    assert bench.macro_f1([-3, 0, 3], [-0.5, 0.0, 0.5]) == pytest.approx(1.0)
    assert bench.macro_f1([-3, 0, 3], [0.5, 0.5, -0.5]) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("x1\t1.5", "expected id<TAB>score<TAB>text"),
        ("x1\tgood\tsome text", "is not a number"),
        ("x1\t7\tsome text", "outside -4..+4"),
    ],
)
def test_a_bad_data_line_names_the_file_line_and_problem(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = tmp_path / "set.tsv"
    path.write_text(f"# comment\nok1\t1\tfine\n{line}\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        bench.load_rows(path)
    assert f"{path}:3:" in str(stopped.value) and problem in str(stopped.value)


def test_find_data_dir_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGE_SENTIMENT_DATA", str(tmp_path))
    assert bench.find_data_dir() == tmp_path


@pytest.mark.parametrize("name", ["spanish_dev.tsv", "spanish_test.tsv"])
def test_spanish_set_is_well_formed_and_engage_reads_it(name: str) -> None:
    rows = bench.load_rows(SPANISH / name)
    assert len(rows) == 40
    assert len({row.id for row in rows}) == 40
    human = [row.human for row in rows]
    assert min(human) < -2 and max(human) > 2  # both directions are rated
    engage_r = ev.pearson(human, [score(row.text) for row in rows])
    assert engage_r > 0.75  # a smoke check on a one-rater set (see its README)


def test_spanish_halves_do_not_share_texts() -> None:
    dev = {row.text for row in bench.load_rows(SPANISH / "spanish_dev.tsv")}
    test = {row.text for row in bench.load_rows(SPANISH / "spanish_test.tsv")}
    assert not dev & test
    assert (SPANISH / "README.md").is_file()
