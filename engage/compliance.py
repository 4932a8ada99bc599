"""Compliance keywords and quiet hours.

Keywords are matched on the WHOLE message: case, accents, punctuation and whitespace are
ignored ("Stop.", " s-t-o-p ", "Opt out!" all match), but "please stop texting me" is not a
keyword (the flow sees it). Carriers and the TCPA treat these words as binding, so the runtime
checks them before anything else.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# "clarify": not a keyword; a longer message that mentions stopping messages
# (``engage.opt_out_intent``), answered with one question
KeywordKind = Literal["opt_out", "opt_in", "help", "delete", "language", "clarify"]


@dataclass(frozen=True)
class Keyword:
    """A recognised keyword. ``language`` is the language the resident used (for the reply);
    ``target`` is the language asked for by ENGLISH/ESPAÑOL (None for LANGUAGE/IDIOMA)."""

    kind: KeywordKind
    word: str
    language: str = "en"
    target: str | None = None


def _entries() -> dict[str, Keyword]:
    table: dict[str, Keyword] = {}

    def add(kind: KeywordKind, words: str, language: str, target: str | None = None) -> None:
        for word in words.split():
            table[word] = Keyword(kind, word, language, target)

    add("opt_out", "stop stopall unsubscribe cancel end quit revoke optout", "en")
    add("opt_out", "alto parar cancelar baja", "es")
    add("opt_in", "start unstop resume", "en")
    add("opt_in", "comenzar iniciar reanudar alta", "es")
    add("help", "help info", "en")
    add("help", "ayuda", "es")
    add("delete", "delete forget erase", "en")
    add("delete", "borrar eliminar olvidar", "es")
    add("language", "language", "en")
    add("language", "idioma", "es")
    add("language", "english ingles", "en", "en")
    add("language", "espanol spanish", "es", "es")
    return table


KEYWORDS: dict[str, Keyword] = _entries()


def fold(text: str) -> str:
    """Lowercase letters and digits only, accents removed: the keyword matching form."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(
        ch for ch in decomposed.casefold() if ch.isalnum() and not unicodedata.combining(ch))


def classify(text: str) -> Keyword | None:
    """The keyword ``text`` is, or None. Only the whole message counts."""
    if not text or len(text) > 40:
        return None
    return KEYWORDS.get(fold(text))


# --- quiet hours ------------------------------------------------------------------------


def _zone(tz_name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name or "America/New_York")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("America/New_York")


def _at(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """Wall-clock ``moment`` on ``day`` in ``zone``; a time inside a spring-forward gap
    resolves to the instant just after the gap (zoneinfo fold=0 semantics)."""
    return datetime.combine(day, moment, tzinfo=zone)


def in_quiet_hours(now: datetime, tz_name: str | None, quiet_window: tuple[time, time]) -> bool:
    return next_allowed_send(now, tz_name, quiet_window) > now


def next_allowed_send(
    now: datetime, tz_name: str | None, quiet_window: tuple[time, time]
) -> datetime:
    """``now`` when outside the resident's quiet hours, else the end of the quiet window.

    Computed on the local calendar (date + wall time in the zone), never by adding hours, so a
    night that is 23 or 25 hours long around a DST change still ends at the local end time.
    The result is aware UTC-comparable (returned in UTC).
    """
    if now.tzinfo is None:
        raise ValueError("naive datetime rejected: use aware UTC datetimes")
    start, end = quiet_window
    if start == end:
        return now
    zone = _zone(tz_name)
    local = now.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    today = local.date()
    if start < end:  # e.g. 01:00-06:00, same night
        quiet = start <= wall < end
        end_day = today
    else:  # wraps midnight, e.g. 21:00-08:00
        quiet = wall >= start or wall < end
        end_day = today + timedelta(days=1) if wall >= start else today
    if not quiet:
        return now
    resume = _at(end_day, end, zone).astimezone(UTC)
    return max(resume, now.astimezone(UTC))
