"""What a summary measures and by what: the survey's items, the dimensions a table is cut by,
and the key values of margins and missing answers."""

from __future__ import annotations

from collections.abc import Sequence

from engage.errors import UserError

SURVEY_FLOW = "satisfaction"
LIKERT_ITEMS: tuple[str, ...] = (
    "safe_day",
    "safe_night",
    "trust_respect",
    "trust_listen",
    "contact_satisfaction",
)
TEXT_ITEMS: tuple[str, ...] = ("safer",)
LEVELS = (1, 2, 3, 4, 5)
ALL = "all"  # the key value of a margin (every value of that dimension)
UNKNOWN = "unknown"
SKIPPED = "skipped"  # the engine's category for an optional question the resident skipped
# Sentiment classes: the usual +/-0.05 dead band around zero (as VADER's authors recommend).
NEGATIVE_BELOW = -0.05
POSITIVE_ABOVE = 0.05

AREA_DIMENSIONS = ("district", "neighbourhood")
GROUP_DIMENSIONS = ("age_band", "race_ethnicity", "contact_type")
DIMENSION_ALIASES = {
    "area": "neighbourhood",
    "neighborhood": "neighbourhood",
    "incident_type": "contact_type",
    "age": "age_band",
    "race": "race_ethnicity",
}


def parse_dimensions(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"district,age_band"`` -> ("district", "age_band"); one area dimension at most."""
    raw = text.split(",") if isinstance(text, str) else list(text)
    dims: list[str] = []
    for item in raw:
        name = item.strip().lower()
        if not name:
            continue
        name = DIMENSION_ALIASES.get(name, name)
        if name not in AREA_DIMENSIONS + GROUP_DIMENSIONS:
            allowed = ", ".join(AREA_DIMENSIONS + GROUP_DIMENSIONS)
            raise UserError(f"unknown --by dimension {item.strip()!r} (use {allowed})")
        if name in dims:
            raise UserError(f"--by names {name!r} twice")
        dims.append(name)
    if sum(d in AREA_DIMENSIONS for d in dims) > 1:
        raise UserError("--by takes one area dimension (district or neighbourhood), not both")
    if len(dims) > 3:
        raise UserError("--by takes at most three dimensions")
    return tuple(dims)
