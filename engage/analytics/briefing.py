"""A mediator's briefing on one area: recent trust, safety and sentiment, top themes, and a
few representative quotes, only from residents who agreed to be quoted.

Same rules as every export: figures for fewer than ``min_cell_size`` respondents are withheld
(quotes and themes too, when the area is that small), text is scrubbed again on the way out,
and the file gets a method note, a SHA-256 manifest and an audit entry.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, func, or_, select
from sqlmodel import col

from engage.analytics.exports import (
    METHODS_DOC,
    SENTIMENT_DOC,
    clean,
    current_scorer_version,
    record_export,
    write_with_manifest,
)
from engage.analytics.metrics import SKIPPED, SURVEY_FLOW, TEXT_ITEMS, as_datetime, trend
from engage.analytics.periods import parse_period, period_containing, recent_periods
from engage.analytics.session_briefing import (
    SessionSection,
    build_session_section,
    render_session_markdown,
)
from engage.config import Settings
from engage.errors import UserError
from engage.flow.answers import is_skip
from engage.storage.tables import Participant, Response

QUOTES = 3
THEMES = 5
MIN_QUOTE_WORDS = 4
MAX_QUOTE_CHARS = 280


@dataclass(frozen=True)
class TrendPoint:
    period: str
    withheld: bool
    respondents: int | None
    trust_index: float | None
    trust_index_low: float | None
    trust_index_high: float | None
    safety_index: float | None
    safety_index_low: float | None
    safety_index_high: float | None
    sentiment_mean: float | None
    share_negative: float | None
    share_positive: float | None


@dataclass(frozen=True)
class Theme:
    label: str
    mentions: int | None  # None: fewer than min_cell_size (shown as "a few")


@dataclass(frozen=True)
class Briefing:
    area: str
    dimension: str  # district | neighbourhood
    generated_at: str
    window: str
    min_cell_size: int
    trend: list[TrendPoint]
    themes: list[Theme]
    quotes: list[str]
    notes: list[str] = field(default_factory=list)
    method: dict[str, str] = field(default_factory=dict)
    session: SessionSection | None = None  # with --session: RSVPs, attendance, feedback
    deliberation: list[dict[str, Any]] = field(default_factory=list)  # see deliberation docs


# --- area resolution ------------------------------------------------------------------------


def _known_areas(engine: Engine) -> tuple[dict[str, str], dict[str, str]]:
    """Lower-cased name -> stored spelling, for districts and neighbourhoods seen in data."""
    districts: dict[str, str] = {}
    neighbourhoods: dict[str, str] = {}
    with engine.connect() as conn:
        for (name,) in conn.execute(select(col(Response.district)).distinct()):
            if name:
                districts[str(name).lower()] = str(name)
        for (name,) in conn.execute(select(col(Response.area)).distinct()):
            if name:
                neighbourhoods[str(name).lower()] = str(name)
        area_rows = select(col(Response.value)).where(col(Response.name) == "area").distinct()
        for (name,) in conn.execute(area_rows):
            if name:
                neighbourhoods.setdefault(str(name).lower(), str(name))
    return districts, neighbourhoods


def resolve_area(engine: Engine, settings: Settings, name: str) -> tuple[str, str]:
    """(dimension, stored name) for a district or neighbourhood, via the gazetteer if needed."""
    wanted = name.strip().lower()
    districts, neighbourhoods = _known_areas(engine)
    if wanted in districts:
        return "district", districts[wanted]
    if wanted in neighbourhoods:
        return "neighbourhood", neighbourhoods[wanted]
    try:
        from engage.flow.areas import load_gazetteer

        gazetteer = load_gazetteer(settings.flows_dir / "areas" / "baltimore.yaml")
        for district in gazetteer.districts:
            if str(district).lower() == wanted:
                return "district", str(district)
        match = gazetteer.match(name)
    except (ImportError, OSError):
        match = None
    if match is not None:
        return "neighbourhood", str(match.neighbourhood)
    known = ", ".join(sorted(districts.values())) or "none yet"
    raise UserError(f"unknown area {name!r} (districts with data: {known})")


def area_for_session(engine: Engine, session_id: int) -> str:
    """The area a dialogue session is held for (neighbourhood or district name)."""
    try:
        from engage.storage.tables.scheduling import DialogueSession
    except ImportError as exc:
        raise UserError("dialogue sessions are not available in this build") from exc
    with engine.connect() as conn:
        area = conn.execute(
            select(col(DialogueSession.area)).where(col(DialogueSession.id) == session_id)
        ).scalar_one_or_none()
    if area is None:
        raise UserError(f"no dialogue session with id {session_id}")
    if not str(area).strip():
        raise UserError(f"dialogue session {session_id} has no area; use --area NAME")
    return str(area)


# --- content --------------------------------------------------------------------------------


def _area_runs(dimension: str, area: str) -> Select[int | None]:
    """Run ids of satisfaction surveys answered in the area (any answer carrying it)."""
    if dimension == "district":
        condition = func.lower(col(Response.district)) == area.lower()
    else:
        condition = or_(
            func.lower(col(Response.area)) == area.lower(),
            (col(Response.name) == "area") & (func.lower(col(Response.value)) == area.lower()),
        )
    return (
        select(col(Response.run_id))
        .where(col(Response.flow_id) == SURVEY_FLOW, condition)
        .distinct()
    )


def _texts(
    engine: Engine, dimension: str, area: str, start: datetime, end: datetime, *,
    quotable_only: bool,
) -> list[tuple[int, str, float | None, str]]:
    """(response id, text, sentiment, language) of free-text answers in the window."""
    query = (
        select(
            col(Response.id), col(Response.text), col(Response.sentiment),
            col(Participant.language),
        )
        .join(
            Participant, col(Participant.id) == col(Response.participant_id),
            isouter=not quotable_only,
        )
        .where(
            col(Response.flow_id) == SURVEY_FLOW,
            col(Response.name).in_(TEXT_ITEMS),
            col(Response.text).is_not(None),
            func.coalesce(col(Response.category), "") != SKIPPED,
            col(Response.answered_at) >= start,
            col(Response.answered_at) < end,
            col(Response.run_id).in_(_area_runs(dimension, area)),
        )
        .order_by(col(Response.id))
    )
    if quotable_only:
        query = query.where(
            col(Participant.consent_quotes) == "granted",
            col(Participant.erased_at).is_(None),
            col(Participant.opted_out).is_(False),
        )
    with engine.connect() as conn:
        return [
            (int(i), clean(str(t)), s, str(lang or "en"))
            for i, t, s, lang in conn.execute(query)
            if i is not None and t and str(t).strip() and not is_skip(str(t))
        ]


def pick_quotes(candidates: Sequence[tuple[int, str, float | None, str]], limit: int) -> list[str]:
    """Representative quotes: spread over the range of sentiment (low, middle, high), not the
    loudest; deterministic (ties broken by response id)."""
    usable = [
        c for c in candidates
        if len(c[1].split()) >= MIN_QUOTE_WORDS and len(c[1]) <= MAX_QUOTE_CHARS
    ]
    if not usable:
        return []
    ordered = sorted(usable, key=lambda c: (c[2] if c[2] is not None else 0.0, c[0]))
    if len(ordered) <= limit:
        return [c[1] for c in ordered]
    picks: list[str] = []
    for i in range(limit):
        index = round((i + 0.5) * len(ordered) / limit - 0.5)
        text = ordered[min(index, len(ordered) - 1)][1]
        if text not in picks:
            picks.append(text)
    return picks


def _themes(texts: Sequence[tuple[int, str, float | None, str]], k: int) -> list[Theme]:
    from engage.analytics.themes import top_themes

    by_language: dict[str, list[str]] = {}
    for _, text, _, language in texts:
        by_language.setdefault(language if language in ("en", "es") else "en", []).append(text)
    merged: dict[str, int] = {}
    for language, items in sorted(by_language.items()):
        for entry in top_themes(items, language=language, limit=THEMES):
            label, count = _theme_entry(entry)
            merged[label] = merged.get(label, 0) + count
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:THEMES]
    # a theme below the minimum group size is withheld whole: its label can be a name
    return [Theme(clean(label), count) for label, count in ranked if count >= k]


def _theme_entry(entry: Any) -> tuple[str, int]:
    """Accept (label, count) pairs or objects with label/count attributes."""
    if isinstance(entry, tuple | list):
        return str(entry[0]), int(entry[1]) if len(entry) > 1 else 0
    label = getattr(entry, "label", None) or getattr(entry, "theme", None) or str(entry)
    count = getattr(entry, "count", None) or getattr(entry, "mentions", 0)
    return str(label), int(count or 0)


def build_briefing(
    *, engine: Engine, settings: Settings, area: str, now: datetime, quarters: int = 4,
    period: str | None = None, session_id: int | None = None,
) -> Briefing:
    """Everything a mediator needs, already suppressed and scrubbed. The trend covers
    ``quarters`` quarters ending with ``period`` (default: the quarter containing ``now``)."""
    dimension, name = resolve_area(engine, settings, area)
    k = settings.min_cell_size
    tz = settings.timezone
    last = parse_period(period, tz) if period else period_containing(now, "quarter", tz)
    if last.kind != "quarter":
        last = period_containing(last.start, "quarter", tz)
    periods = recent_periods(last, quarters, tz)
    points: list[TrendPoint] = []
    for quarter, row in trend(engine, periods, min_cell_size=k, area=(dimension, name)):
        f = row.figures
        resp = f.get("respondents")
        points.append(
            TrendPoint(
                period=quarter.label,
                withheld=not row.published,
                respondents=int(resp) if resp is not None else None,
                trust_index=f.get("trust_index"),
                trust_index_low=f.get("trust_index_low"),
                trust_index_high=f.get("trust_index_high"),
                safety_index=f.get("safety_index"),
                safety_index_low=f.get("safety_index_low"),
                safety_index_high=f.get("safety_index_high"),
                sentiment_mean=f.get("sentiment_mean"),
                share_negative=f.get("share_negative"),
                share_positive=f.get("share_positive"),
            )
        )
    start, end = periods[0].start, periods[-1].end
    window = f"{periods[0].label}-{periods[-1].label}"
    notes: list[str] = []
    texts = _texts(engine, dimension, name, start, end, quotable_only=False)
    themes: list[Theme] = []
    quotes: list[str] = []
    if len(texts) < k:
        notes.append(
            f"Themes and quotes withheld: fewer than {k} written answers from {name} in {window}."
        )
    else:
        themes = _themes(texts, k)
        quotable = _texts(engine, dimension, name, start, end, quotable_only=True)
        quotes = pick_quotes(quotable, QUOTES)
        if not quotes:
            notes.append("No quotes: no resident in this area agreed to be quoted.")
    method = {
        "what": f"Briefing on {dimension} {name}: trend by quarter {window}, themes, quotes.",
        "generated_at": as_datetime(now),
        "indices": "Trust and Safety indices are 0-100: (mean of the two 1-5 items - 1) / 4 x 100;"
        " ranges are 95% confidence intervals (Student t).",
        "suppression": f"Figures describing fewer than {k} respondents are withheld, with "
        "complementary suppression across the area table.",
        "quotes": "Scrubbed of phone numbers, emails, street addresses, names and links (also "
        "spelled out in words); only from residents who agreed to be quoted anonymously; spread "
        "across the range of sentiment.",
        "themes": f"Themes mentioned fewer than {k} times are not listed.",
        "sentiment": f"Scorer version {current_scorer_version()} (see {SENTIMENT_DOC}).",
        "methods": METHODS_DOC,
    }
    from engage.deliberation.briefing_section import deliberation_sections

    return Briefing(
        area=name, dimension=dimension, generated_at=as_datetime(now), window=window,
        min_cell_size=k, trend=points, themes=themes, quotes=quotes, notes=notes, method=method,
        deliberation=deliberation_sections(engine, min_cell=k, area=name,
                                           session_id=session_id),
    )


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
# "[phone]" alone is no Markdown link (its "(" would be escaped anyway): shown as written
_SCRUB_TAG = re.compile(r"\\\[(phone|email|address|url|handle|name)\\\]")


def markdown_safe(text: str) -> str:
    """Resident text as inert Markdown: one line (a newline cannot start a heading or leave
    the quote), HTML escaped (no raw tags reach a renderer), Markdown punctuation
    backslash-escaped (no links, emphasis, tables or images)."""
    one_line = " ".join(text.split())
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=False))
    return _SCRUB_TAG.sub(r"[\1]", escaped)  # the scrubber's own tags stay readable


def render_markdown(briefing: Briefing) -> str:
    """Plain text a mediator can read on a phone or print."""
    k = briefing.min_cell_size
    lines = [
        f"# Briefing: {briefing.area} ({briefing.dimension})",
        "",
        f"Generated {briefing.generated_at}. Quarters {briefing.window}.",
        "",
        "## Trend",
        "",
        "| quarter | respondents | trust (0-100) | safety (0-100) | mean sentiment |",
        "|---|---|---|---|---|",
    ]
    for p in briefing.trend:
        if p.withheld:
            lines.append(f"| {p.period} | fewer than {k} | withheld | withheld | withheld |")
            continue
        trust = f"{_num(p.trust_index)} ({_num(p.trust_index_low)}-{_num(p.trust_index_high)})"
        safety = (
            f"{_num(p.safety_index)} ({_num(p.safety_index_low)}-{_num(p.safety_index_high)})"
        )
        lines.append(
            f"| {p.period} | {p.respondents} | {trust} | {safety} | {_num(p.sentiment_mean, 2)} |"
        )
    lines += ["", "## Top themes", ""]
    if briefing.themes:
        for theme in briefing.themes:
            mentions = theme.mentions if theme.mentions is not None else f"fewer than {k}"
            lines.append(f"- {markdown_safe(theme.label)} ({mentions} mentions)")
    else:
        lines.append("- none to show")
    lines += ["", "## In residents' words", ""]
    lines += [f"> {markdown_safe(q)}" for q in briefing.quotes] or ["(none)"]
    from engage.deliberation.briefing_section import render_markdown as deliberation_md

    lines += deliberation_md(briefing.deliberation, k)
    if briefing.notes:
        lines += ["", *[f"Note: {n}" for n in briefing.notes]]
    lines += render_session_markdown(briefing.session, k)
    lines += ["", "## Method", ""]
    lines += [f"- {name}: {text}" for name, text in briefing.method.items()]
    return "\n".join(lines) + "\n"


def render_json(briefing: Briefing) -> str:
    return json.dumps(asdict(briefing), indent=2, ensure_ascii=False) + "\n"


def export_briefing(
    *, engine: Engine, settings: Settings, area: str | None, session_id: int | None,
    out: Path, fmt: str, now: datetime, actor: str = "cli", period: str | None = None,
) -> tuple[Briefing, str]:
    """Build, write ``out`` + manifest, audit; returns the briefing and the file digest."""
    if (area is None) == (session_id is None):
        raise UserError("give exactly one of --session ID or --area NAME")
    if fmt not in ("md", "json"):
        raise UserError(f"--format must be md or json, got {fmt!r}")
    name = area if area is not None else area_for_session(engine, int(session_id or 0))
    briefing = build_briefing(engine=engine, settings=settings, area=name, now=now,
                              period=period, session_id=session_id)
    if session_id is not None:
        briefing = replace(briefing, session=build_session_section(
            engine, int(session_id), settings.min_cell_size))
    text = render_markdown(briefing) if fmt == "md" else render_json(briefing)
    manifest = out.with_name(out.name + ".sha256")
    digest = write_with_manifest([(out, text.encode("utf-8"))], manifest)[out.name]
    record_export(
        engine,
        action="export.briefing",
        subject=out.name,
        details={
            "area": briefing.area,
            "dimension": briefing.dimension,
            "session_id": session_id,
            "window": briefing.window,
            "sha256": digest,
            "quotes": len(briefing.quotes),
            "min_cell_size": settings.min_cell_size,
        },
        now=now,
        actor=actor,
        manifest=manifest,
        settings=settings,
    )
    return briefing, digest
