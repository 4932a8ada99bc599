"""Anonymized survey metrics: one SQL ``GROUP BY`` per summary, margins rolled up in Python.

The unit is a respondent: one resident's most recent satisfaction survey in the period (a
resident who answered twice counts once). Stored ``Response`` rows (one per answer) are pivoted
per run inside the database, then grouped by the requested dimensions. Every aggregate is a
sufficient statistic (count, sum, sum of squares, level counts), so totals and subtotals are
exact sums of the finest cells and need no second query. Suppression and the optional noise
live in :mod:`engage.analytics.suppression`; this package only measures.

- ``_dimensions``: the survey's items and the dimensions a table is cut by
- ``_queries``: reading answers (the SQL); ``_measure``: running it into a raw cube
- ``_figures``: margins and each cell's figures with confidence intervals
- ``_summary``: suppression applied (``summarize``) and trends over periods
"""

from __future__ import annotations

from engage.analytics.metrics._dimensions import (
    ALL,
    AREA_DIMENSIONS,
    GROUP_DIMENSIONS,
    LIKERT_ITEMS,
    SKIPPED,
    SURVEY_FLOW,
    TEXT_ITEMS,
    UNKNOWN,
    parse_dimensions,
)
from engage.analytics.metrics._figures import FIGURE_COLUMNS, Key
from engage.analytics.metrics._measure import measure
from engage.analytics.metrics._summary import (
    Row,
    Summary,
    as_datetime,
    summarize,
    trend,
)

__all__ = [
    "ALL",
    "AREA_DIMENSIONS",
    "FIGURE_COLUMNS",
    "GROUP_DIMENSIONS",
    "LIKERT_ITEMS",
    "SKIPPED",
    "SURVEY_FLOW",
    "TEXT_ITEMS",
    "UNKNOWN",
    "Key",
    "Row",
    "Summary",
    "as_datetime",
    "measure",
    "parse_dimensions",
    "summarize",
    "trend",
]
