"""Small cells are withheld and cannot be recovered by differencing published totals."""

from __future__ import annotations

import random

from analytics_helpers import populate
from hypothesis import given, settings
from hypothesis import strategies as st

from engage.analytics.metrics import ALL, measure, summarize
from engage.analytics.periods import parse_period
from engage.analytics.suppression import laplace_counts, lines, suppress

K = 10


def cube_2d(cells: dict[tuple[str, str], int]) -> dict[tuple[str, ...], int]:
    cube: dict[tuple[str, ...], int] = {}
    for (a, b), n in cells.items():
        if n == 0:
            continue
        for key in ((a, b), (a, ALL), (ALL, b), (ALL, ALL)):
            cube[key] = cube.get(key, 0) + n
    return cube


def differencing_attack(
    counts: dict[tuple[str, ...], int], published: set[tuple[str, ...]]
) -> dict[tuple[str, ...], int]:
    """What an attacker recovers by repeatedly subtracting known cells from known totals
    (and adding known cells up to unknown totals). Returns recovered withheld cells."""
    known = {key: counts[key] for key in published}
    recovered: dict[tuple[str, ...], int] = {}
    progress = True
    while progress:
        progress = False
        for parent, kids in lines(list(counts)):
            members = [parent, *kids]
            unknown = [m for m in members if m not in known]
            if len(unknown) != 1:
                continue
            (target,) = unknown
            if target == parent:
                value = sum(known[c] for c in kids)
            else:
                value = known[parent] - sum(known[c] for c in kids if c != target)
            known[target] = value
            recovered[target] = value
            progress = True
    return recovered


def withheld_sums_per_line(counts, withheld):  # type: ignore[no-untyped-def]
    """For lines whose margin is published: the total the withheld children leak together."""
    out = []
    for parent, kids in lines(list(counts)):
        hidden = [c for c in kids if c in withheld]
        if parent not in withheld and hidden:
            out.append(sum(counts[c] for c in hidden))
    return out


def test_a_single_small_cell_gets_a_complement_in_its_row_and_column() -> None:
    cube = cube_2d({("A", "x"): 30, ("A", "y"): 12, ("A", "z"): 3,
                    ("B", "x"): 25, ("B", "y"): 20, ("B", "z"): 40})
    result = suppress(cube, k=K)
    assert result.withheld[("A", "z")] == "small"
    # Row A: the smallest other cell (12) hides too; column z: B's cell hides too.
    assert result.withheld[("A", "y")] == "complementary"
    assert result.withheld[("B", "z")] == "complementary"
    published = {key for key in cube if result.published(key)}
    assert differencing_attack(cube, published) == {}


def test_two_small_cells_whose_sum_is_still_small_need_a_third() -> None:
    cube = cube_2d({("A", "x"): 40, ("A", "y"): 3, ("A", "z"): 4})
    result = suppress(cube, k=K)
    hidden_in_row = [key for key in (("A", "x"), ("A", "y"), ("A", "z")) if key in result.withheld]
    assert sum(cube[k] for k in hidden_in_row) >= K


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.sampled_from("ABCD"), st.sampled_from("wxyz")),
        st.integers(min_value=0, max_value=40),
        min_size=1,
    ),
    st.integers(min_value=2, max_value=12),
)
def test_no_published_cell_is_small_and_differencing_recovers_nothing(cells, k) -> None:
    cube = cube_2d(cells)
    result = suppress(cube, k=k)
    published = {key for key in cube if result.published(key)}
    assert all(cube[key] >= k for key in published)
    assert differencing_attack(cube, published) == {}
    assert all(total >= k for total in withheld_sums_per_line(cube, result.withheld))


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.sampled_from("AB"), st.sampled_from("xyz"), st.sampled_from("pq")),
        st.integers(min_value=0, max_value=30),
        min_size=1,
    )
)
def test_three_dimensional_tables_are_protected_too(cells) -> None:
    cube: dict[tuple[str, ...], int] = {}
    for key, n in cells.items():
        if n == 0:
            continue
        for mask in range(8):
            target = tuple(ALL if mask >> i & 1 else v for i, v in enumerate(key))
            cube[target] = cube.get(target, 0) + n
    result = suppress(cube, k=K)
    published = {key for key in cube if result.published(key)}
    assert all(cube[key] >= K for key in published)
    assert differencing_attack(cube, published) == {}


def test_differencing_attack_on_the_database_summary_fails(db_engine) -> None:
    # One young resident in a district: the district total minus the published age cells
    # would reveal their answers if only their own cell were hidden.
    populate(db_engine, {("Eastern", "25-34"): 15, ("Eastern", "35-44"): 22,
                         ("Eastern", "18-24"): 1, ("Western", "18-24"): 14,
                         ("Western", "25-34"): 13, ("Western", "35-44"): 30})
    period = parse_period("2026Q3", "America/New_York")
    cube = measure(db_engine, period, ("district", "age_band")).cube
    counts = {key: int(stats["respondents"]) for key, stats in cube.items()}
    summary = summarize(db_engine, period, ("district", "age_band"), min_cell_size=K)
    published = {
        tuple(v for _, v in r.key): int(r.figures["respondents"] or 0)
        for r in summary.rows if r.published
    }
    assert ("Eastern", "18-24") not in published
    assert all(n >= K for n in published.values())
    # published figures are the true ones (no noise configured)
    assert all(counts[key] == n for key, n in published.items())
    assert differencing_attack(counts, set(published)) == {}
    withheld = {tuple(v for _, v in r.key) for r in summary.rows if not r.published}
    assert {("Eastern", "18-24"), ("Western", "18-24")} <= withheld


def test_laplace_noise_is_seeded_and_centred() -> None:
    counts = {(str(i),): 100 for i in range(2000)}
    first = laplace_counts(counts, epsilon=0.5, rng=random.Random(7))
    again = laplace_counts(counts, epsilon=0.5, rng=random.Random(7))
    other = laplace_counts(counts, epsilon=0.5, rng=random.Random(8))
    assert first == again and first != other
    values = list(first.values())
    assert any(v != 100 for v in values)
    mean = sum(values) / len(values)
    assert abs(mean - 100) < 0.3  # Laplace(2) mean error over 2000 draws: sd ~0.06
    mad = sum(abs(v - 100) for v in values) / len(values)
    assert 1.5 < mad < 2.5  # E|X| = scale = 1/epsilon = 2


def test_noise_applies_to_published_counts_only(db_engine) -> None:
    populate(db_engine, {("Eastern", "25-34"): 40, ("Eastern", "18-24"): 2,
                         ("Western", "25-34"): 50, ("Western", "18-24"): 45})
    period = parse_period("2026Q3", "America/New_York")
    plain = summarize(db_engine, period, ("district", "age_band"), min_cell_size=K)
    noisy = summarize(db_engine, period, ("district", "age_band"), min_cell_size=K,
                      dp_epsilon=0.2, rng=random.Random(3))
    assert [r.published for r in plain.rows] == [r.published for r in noisy.rows]
    changed = [
        (a.figures["respondents"], b.figures["respondents"])
        for a, b in zip(plain.rows, noisy.rows, strict=True) if a.published
    ]
    assert any(x != y for x, y in changed)
    assert all(r.figures["respondents"] is None for r in noisy.rows if not r.published)


def test_neighbourhoods_cannot_be_recovered_from_published_district_totals(db_engine) -> None:
    from analytics_helpers import add_respondent
    from sqlmodel import Session

    hoods = {("Eastern", "Oliver"): 3, ("Eastern", "Berea"): 20, ("Eastern", "Darley Park"): 15,
             ("Western", "Harlem Park"): 11, ("Western", "Sandtown"): 31}
    with Session(db_engine) as session:
        for (district, hood), n in hoods.items():
            for _ in range(n):
                add_respondent(session, district=district, area=hood, answers={"safe_day": 3})
        session.commit()
    period = parse_period("2026Q3", "America/New_York")
    by_district = summarize(db_engine, period, ("district",), min_cell_size=K)
    district_totals = {r.key[0][1]: int(r.figures["respondents"] or 0)
                       for r in by_district.rows if r.published}
    assert district_totals["Eastern"] == 38
    by_hood = summarize(db_engine, period, ("neighbourhood",), min_cell_size=K)
    published = {r.key[0][1]: int(r.figures["respondents"] or 0)
                 for r in by_hood.rows if r.published}
    assert "Oliver" not in published
    # the attacker: a district total minus that district's published neighbourhoods
    for district in ("Eastern", "Western"):
        names = [h for (d, h) in hoods if d == district]
        hidden = [h for h in names if h not in published]
        assert len(hidden) != 1, f"{district}: {hidden} recoverable from the district total"
        if hidden:
            assert district_totals[district] - sum(published[h] for h in names
                                                   if h in published) >= K
