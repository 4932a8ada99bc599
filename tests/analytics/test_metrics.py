"""Metrics on known data: formulas, 95% intervals, periods, groups, response rate."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from analytics_helpers import Q3, add_invited, add_respondent
from sqlalchemy import Engine
from sqlmodel import Session

from engage.analytics.metrics import ALL, Row, Summary, parse_dimensions, summarize
from engage.analytics.periods import Period, parse_period, recent_periods
from engage.analytics.stats import mean_ci, t975, t_quantile, wilson_ci
from engage.errors import UserError

NY = "America/New_York"


def q3() -> Period:
    return parse_period("2026Q3", NY)


def row(summary: Summary, **key: str) -> Row:
    wanted = tuple((d, key.get(d, ALL)) for d in summary.dims)
    return next(r for r in summary.rows if r.key == wanted)


# --- pure statistics ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062047), (2, 4.3026527), (9, 2.2621572), (29, 2.0452296), (120, 1.9799304)],
)
def test_t_critical_values_match_tables(df: int, expected: float) -> None:
    assert t975(df) == pytest.approx(expected, abs=1e-6)


def test_t_quantile_is_symmetric_and_monotone() -> None:
    assert t_quantile(0.025, 9) == pytest.approx(-t_quantile(0.975, 9))
    assert t_quantile(0.9, 5) < t_quantile(0.95, 5) < t_quantile(0.975, 5)


def test_wilson_interval_on_known_values() -> None:
    # Wilson (1927) / Newcombe (1998) worked example: 81 of 263 -> 0.2553 to 0.3662
    est = wilson_ci(81, 263)
    assert est.low == pytest.approx(0.2553, abs=1e-4)
    assert est.high == pytest.approx(0.3662, abs=1e-4)
    zero = wilson_ci(0, 10)
    assert zero.low == 0.0 and zero.high == pytest.approx(0.2775, abs=1e-4)


def test_mean_interval_from_sufficient_statistics() -> None:
    values = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    est = mean_ci(len(values), sum(values), sum(v * v for v in values))
    sd = math.sqrt(sum((v - 3) ** 2 for v in values) / 9)
    assert est.value == 3
    assert est.low == pytest.approx(3 - 2.2621572 * sd / math.sqrt(10), abs=1e-6)
    assert est.high == pytest.approx(3 + 2.2621572 * sd / math.sqrt(10), abs=1e-6)
    assert mean_ci(1, 4, 16).low is None


# --- periods and dimensions ---------------------------------------------------------------


def test_periods_follow_the_city_calendar() -> None:
    period = parse_period("2026Q3", NY)
    assert period.start == datetime(2026, 7, 1, 4, tzinfo=UTC)
    assert period.end == datetime(2026, 10, 1, 4, tzinfo=UTC)
    month = parse_period("2026-12", NY)
    assert month.end == datetime(2027, 1, 1, 5, tzinfo=UTC)
    labels = [p.label for p in recent_periods(parse_period("2026Q1", NY), 3, NY)]
    assert labels == ["2025Q3", "2025Q4", "2026Q1"]
    with pytest.raises(UserError, match="2026Q3 or 2026-07"):
        parse_period("Q3 2026", NY)


def test_dimensions_are_validated() -> None:
    assert parse_dimensions("district, incident_type") == ("district", "contact_type")
    with pytest.raises(UserError, match="unknown --by dimension 'zip'"):
        parse_dimensions("district,zip")
    with pytest.raises(UserError, match="one area dimension"):
        parse_dimensions("district,neighbourhood")


# --- SQL metrics on the database ----------------------------------------------------------


def test_indices_means_distribution_and_intervals_on_known_data(db_engine: Engine) -> None:
    respect = [5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 5, 4]
    with Session(db_engine) as session:
        for i, r in enumerate(respect):
            add_respondent(
                session, district="Eastern",
                answers={"trust_respect": r, "trust_listen": 3, "safe_day": 5, "safe_night": 1},
                text="fine", sentiment=[-0.6, 0.0, 0.4][i % 3],
            )
        session.commit()
    summary = summarize(db_engine, q3(), ("district",), min_cell_size=10)
    f = row(summary, district="Eastern").figures
    assert f["respondents"] == 12
    n = len(respect)
    mean_r = sum(respect) / n
    assert f["trust_respect_mean"] == pytest.approx(round(mean_r, 2))
    assert f["trust_respect_pct_5"] == pytest.approx(round(100 * 3 / 12, 1))
    assert f["trust_respect_pct_1"] == pytest.approx(round(100 * 2 / 12, 1))
    # Trust index per respondent = ((respect + listen) / 2 - 1) / 4 * 100
    idx = [((r + 3) / 2 - 1) / 4 * 100 for r in respect]
    mean_idx = sum(idx) / n
    sd = math.sqrt(sum((x - mean_idx) ** 2 for x in idx) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    assert f["trust_index"] == pytest.approx(round(mean_idx, 1))
    assert f["trust_index_low"] == pytest.approx(round(mean_idx - half, 1))
    assert f["trust_index_high"] == pytest.approx(round(mean_idx + half, 1))
    # Safety: day 5, night 1 -> exactly 50 for everyone, zero-width interval
    assert (f["safety_index"], f["safety_index_low"], f["safety_index_high"]) == (50, 50, 50)
    # Sentiment shares: 4 negative, 4 neutral, 4 positive of 12, Wilson intervals
    for share in ("negative", "neutral", "positive"):
        est = wilson_ci(4, 12)
        assert est.low is not None
        assert f[f"share_{share}"] == pytest.approx(round(4 / 12, 3))
        assert f[f"share_{share}_low"] == pytest.approx(round(est.low, 3))
    assert f["sentiment_mean"] == pytest.approx(round((-0.6 + 0.0 + 0.4) / 3, 3))
    assert summary.scorer_versions == ("test-1",)


def test_answer_late_on_the_last_local_day_belongs_to_that_quarter(db_engine: Engine) -> None:
    late = datetime(2026, 10, 1, 3, 30, tzinfo=UTC)  # 23:30 on 30 September in Baltimore
    with Session(db_engine) as session:
        add_respondent(session, answers={"safe_day": 5}, at=late)
        session.commit()
    q3_total = summarize(db_engine, q3(), (), min_cell_size=1).total()
    q4_total = summarize(db_engine, parse_period("2026Q4", NY), (), min_cell_size=1).total()
    assert q3_total.figures["respondents"] == 1
    assert q4_total.figures["respondents"] == 0


def test_a_resident_who_answers_twice_counts_once_with_the_latest_answers(
    db_engine: Engine,
) -> None:
    with Session(db_engine) as session:
        person = add_respondent(session, answers={"safe_day": 1}, at=Q3)
        add_respondent(session, participant=person, answers={"safe_day": 5},
                       at=Q3.replace(day=20))
        add_respondent(session, answers={"safe_day": 3})
        session.commit()
    f = summarize(db_engine, q3(), (), min_cell_size=1).total().figures
    assert f["respondents"] == 2
    assert f["safe_day_mean"] == 4.0


def test_group_breakdown_by_incident_type_with_margins(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        for i in range(30):
            contact = "called_for_help" if i < 18 else "stopped_by_police"
            add_respondent(session, district="Western" if i % 2 else "Eastern",
                           answers={"contact_satisfaction": 4 if i < 18 else 2},
                           groups={"contact_type": contact})
        add_respondent(session, district="Eastern", answers={"safe_day": 3})  # no contact answer
        session.commit()
    summary = summarize(db_engine, q3(), parse_dimensions("incident_type"), min_cell_size=1)
    help_row = row(summary, contact_type="called_for_help")
    assert help_row.figures["respondents"] == 18
    assert help_row.figures["contact_satisfaction_mean"] == 4.0
    assert row(summary, contact_type="stopped_by_police").figures["contact_satisfaction_mean"] == 2
    assert row(summary, contact_type="unknown").figures["respondents"] == 1
    assert summary.total().figures["respondents"] == 31
    assert help_row.figures["response_rate"] is None  # no denominator for a demographic cell


def test_response_rate_by_district(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        for _ in range(12):
            add_respondent(session, district="Central", answers={"safe_day": 4})
        for _ in range(8):
            add_invited(session, district="Central")
        session.commit()
    summary = summarize(db_engine, q3(), ("district",), min_cell_size=10)
    f = row(summary, district="Central").figures
    est = wilson_ci(12, 20)
    assert est.low is not None
    assert f["response_rate"] == 0.6
    assert f["response_rate_low"] == pytest.approx(round(est.low, 3))
    assert summary.total().figures["response_rate"] == 0.6


def test_other_flows_and_other_periods_are_ignored(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        add_respondent(session, answers={"safe_day": 5}, flow_id="session_feedback")
        add_respondent(session, answers={"safe_day": 5}, at=datetime(2026, 4, 2, tzinfo=UTC))
        add_respondent(session, answers={"safe_day": 2})
        session.commit()
    f = summarize(db_engine, q3(), (), min_cell_size=1).total().figures
    assert f["respondents"] == 1 and f["safe_day_mean"] == 2.0


def test_skipped_free_text_is_not_scored(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        add_respondent(session, answers={"safe_day": 3}, text="too many shootings",
                       sentiment=-0.8)
        # the engine records a skipped optional question with category "skipped"
        add_respondent(session, answers={"safe_day": 3}, text="SKIP", sentiment=0.0,
                       text_category="skipped")
        session.commit()
    f = summarize(db_engine, q3(), (), min_cell_size=1).total().figures
    assert f["respondents"] == 2
    assert f["sentiment_n"] == 1 and f["share_negative"] == 1.0


def test_query_plans_agree(db_engine: Engine) -> None:
    """The planner hints (scan vs index, ranking skipped when nobody answered twice) never
    change the answer."""
    from engage.analytics.metrics._queries import aggregate_query

    with Session(db_engine) as session:
        for i in range(40):
            add_respondent(session, district=("Eastern", "Western")[i % 2],
                           answers={"safe_day": 1 + i % 5, "trust_respect": 2},
                           groups={"age_band": ("18-24", "65+")[i % 3 == 0]},
                           text="ok", sentiment=(i % 7 - 3) / 3)
        session.commit()
    period = q3()
    dims = ("district", "age_band")
    results = []
    with db_engine.connect() as conn:
        for scan in (False, True):
            for dedupe in (False, True):
                rows = conn.execute(aggregate_query(period, dims, "satisfaction", scan=scan,
                                                     dedupe=dedupe)).all()
                results.append(sorted(tuple(r) for r in rows))
    assert len(results[0]) == 4
    assert all(r == results[0] for r in results)


def test_response_rate_of_fewer_invited_than_the_minimum_is_withheld(db_engine: Engine) -> None:
    """0 respondents is publishable, but "none of the 3 invited answered" describes 3 people."""
    with Session(db_engine) as session:
        for _ in range(3):
            add_invited(session, district="Central")
        session.commit()
    summary = summarize(db_engine, q3(), ("district",), min_cell_size=10)
    assert summary.total().figures["response_rate"] is None
    with Session(db_engine) as session:
        for _ in range(7):
            add_invited(session, district="Central")
        session.commit()
    summary = summarize(db_engine, q3(), ("district",), min_cell_size=10)
    assert summary.total().figures["response_rate"] == 0.0  # ten invited: a group
