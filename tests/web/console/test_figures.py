"""The page-layer figure cache: the same figures as ``summarize``, recomputed when the data
changes (after the freshness window), never served past its maximum age."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from engage.analytics.metrics import summarize
from engage.analytics.periods import parse_period
from engage.config import Settings
from engage.web.console.figures import FigureCache, data_version, summary_for
from tests.web.console.test_security import _hostile_answers


def test_cache_serves_the_summarize_figures_and_follows_the_data(db_engine: Engine,
                                                                 settings: Settings) -> None:
    cache = FigureCache(db_engine, fresh_for=0)
    period = parse_period("2026Q4", settings.timezone)
    before = data_version(db_engine)
    first = summary_for(cache, settings, period, ("district",))
    assert summary_for(cache, settings, period, ("district",)) is first
    assert (cache.hits, cache.misses) == (1, 1)

    from tests.web.console.conftest import Console

    _hostile_answers(Console(None, db_engine, settings, {}, 0))  # twelve new answers
    assert data_version(db_engine) != before
    again = summary_for(cache, settings, period, ("district",))
    assert again is not first and cache.misses == 2
    expected = summarize(db_engine, period, ("district",),
                         min_cell_size=settings.min_cell_size)
    assert [(r.key, r.published, r.figures) for r in again.rows] == [
        (r.key, r.published, r.figures) for r in expected.rows]


def test_a_fresh_entry_is_served_while_answers_arrive(db_engine: Engine,
                                                      settings: Settings) -> None:
    cache = FigureCache(db_engine, fresh_for=3600)
    period = parse_period("2026Q4", settings.timezone)
    first = summary_for(cache, settings, period, ())
    from tests.web.console.conftest import Console

    _hostile_answers(Console(None, db_engine, settings, {}, 0))
    assert summary_for(cache, settings, period, ()) is first
