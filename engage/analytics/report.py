"""The public report: one self-contained HTML page (inline CSS, inline SVG, no scripts, no
external requests) plus the CSV behind it, a SHA-256 manifest and an audit entry.

It reads well on a phone: a single column, charts drawn in SVG ``viewBox`` units so they
scale to the screen, tables that scroll sideways instead of overflowing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path

from sqlalchemy import Engine

from engage.analytics.exports import (
    METHODS_DOC,
    SENTIMENT_DOC,
    method_note,
    record_export,
    render_csv,
    write_with_manifest,
)
from engage.analytics.metrics import ALL, UNKNOWN, Row, Summary, as_datetime, summarize, trend
from engage.analytics.periods import Period, parse_period, recent_periods
from engage.config import Settings

TREND_POINTS = {"quarter": 4, "month": 6}
TRUST_COLOUR = "#1f5f99"
SAFETY_COLOUR = "#b3541e"

CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;
background:#fafafa}
main{max-width:46rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0 0}
h2{font-size:1.2rem;margin:2rem 0 .5rem}
.lede{color:#444;margin:.25rem 0 1rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5rem,1fr));gap:.75rem}
.card{background:#fff;border:1px solid #ddd;border-radius:.5rem;padding:.75rem}
.card b{display:block;font-size:1.6rem}
.card small{color:#555}
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:.5rem;padding:.5rem}
figcaption{font-size:.9rem;color:#444;padding:.25rem .25rem 0}
svg{width:100%;height:auto;display:block}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.9rem;background:#fff}
th,td{padding:.4rem .5rem;border-bottom:1px solid #e3e3e3;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
.withheld{color:#777;font-style:italic}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;
vertical-align:middle}
a{color:#1f5f99}
footer{margin:2rem 0;font-size:.85rem;color:#555}
@media (prefers-color-scheme:dark){body{background:#111;color:#eee}.card,figure,table{
background:#1b1b1b;border-color:#333}.lede,figcaption,.card small,footer{color:#bbb}
th,td{border-color:#333}a{color:#8cc4ff}}
"""


@dataclass(frozen=True)
class ReportResult:
    directory: Path
    html: Path
    csv: Path
    manifest: Path
    digests: dict[str, str]


def _fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _district_label(value: str) -> str:
    """Escaped display name of a district key ("all" and "unknown" in words)."""
    if value == ALL:
        return "All districts"
    if value == UNKNOWN:
        return "Area not given"
    return escape(value)


def bar_chart(rows: Sequence[Row], k: int) -> str:
    """Trust and Safety index by district as horizontal bars with 95% CI whiskers."""
    published = [r for r in rows if r.published]
    width, label_w, bar_h, gap = 480, 130, 11, 12
    plot_w = width - label_w - 40
    height = 30 + len(published) * (2 * bar_h + gap) + 24
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Trust and safety index by district">'
    ]
    for tick in range(0, 101, 25):
        x = label_w + plot_w * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{height - 22}" stroke="#ccc" '
            f'stroke-width="0.5"/><text x="{x:.1f}" y="{height - 8}" font-size="12" '
            f'text-anchor="middle" fill="currentColor">{tick}</text>'
        )
    y = 26
    for row in published:
        name = _district_label(row.key[0][1])
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h + 4}" font-size="13" text-anchor="end" '
            f'fill="currentColor">{name}</text>'
        )
        for offset, (column, colour) in enumerate(
            (("trust_index", TRUST_COLOUR), ("safety_index", SAFETY_COLOUR))
        ):
            value = row.figures.get(column)
            top = y + offset * bar_h
            if value is None:
                continue
            parts.append(
                f'<rect x="{label_w}" y="{top}" width="{plot_w * value / 100:.1f}" '
                f'height="{bar_h - 2}" fill="{colour}"><title>{escape(column)} '
                f'{value:.0f}</title></rect>'
            )
            low, high = row.figures.get(f"{column}_low"), row.figures.get(f"{column}_high")
            if low is not None and high is not None:
                x1 = label_w + plot_w * max(0.0, low) / 100
                x2 = label_w + plot_w * min(100.0, high) / 100
                mid = top + (bar_h - 2) / 2
                parts.append(
                    f'<line x1="{x1:.1f}" y1="{mid:.1f}" x2="{x2:.1f}" y2="{mid:.1f}" '
                    f'stroke="currentColor" stroke-width="1"/>'
                )
        y += 2 * bar_h + gap
    parts.append("</svg>")
    return "".join(parts)


def line_chart(points: Sequence[tuple[Period, Row]]) -> str:
    """Citywide Trust and Safety index per period; withheld periods leave a gap."""
    width, height, left, right, top, bottom = 480, 220, 36, 16, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    count = max(1, len(points) - 1)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Trust and safety index over time">'
    ]
    for tick in range(0, 101, 25):
        yy = top + plot_h * (1 - tick / 100)
        parts.append(
            f'<line x1="{left}" y1="{yy:.1f}" x2="{width - right}" y2="{yy:.1f}" stroke="#ccc" '
            f'stroke-width="0.5"/><text x="{left - 4}" y="{yy + 4:.1f}" font-size="12" '
            f'text-anchor="end" fill="currentColor">{tick}</text>'
        )
    for i, (period, _) in enumerate(points):
        xx = left + plot_w * i / count
        parts.append(
            f'<text x="{xx:.1f}" y="{height - 12}" font-size="12" text-anchor="middle" '
            f'fill="currentColor">{escape(period.label)}</text>'
        )
    for column, colour in (("trust_index", TRUST_COLOUR), ("safety_index", SAFETY_COLOUR)):
        segment: list[str] = []
        for i, (_, row) in enumerate(points):
            value = row.figures.get(column) if row.published else None
            if value is None:
                if len(segment) > 1:
                    parts.append(_polyline(segment, colour))
                segment = []
                continue
            xx = left + plot_w * i / count
            yy = top + plot_h * (1 - value / 100)
            segment.append(f"{xx:.1f},{yy:.1f}")
            parts.append(
                f'<circle cx="{xx:.1f}" cy="{yy:.1f}" r="3.5" fill="{colour}"><title>'
                f"{escape(column)} {value:.0f}</title></circle>"
            )
        if len(segment) > 1:
            parts.append(_polyline(segment, colour))
    parts.append("</svg>")
    return "".join(parts)


def _polyline(points: list[str], colour: str) -> str:
    return (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
        f'stroke-width="2"/>'
    )


def _district_table(summary: Summary) -> str:
    k = summary.min_cell_size
    head = (
        "<tr><th>District</th><th>Respondents</th><th>Response rate</th><th>Trust</th>"
        "<th>Safety</th><th>Negative</th><th>Positive</th></tr>"
    )
    body: list[str] = []
    for row in summary.rows:
        label = _district_label(row.key[0][1])
        if not row.published:
            body.append(
                f'<tr class="withheld"><td>{label}</td><td colspan="6">withheld '
                f"(fewer than {k} people, or needed to protect a small group)</td></tr>"
            )
            continue
        f = row.figures
        body.append(
            f"<tr><td>{label}</td><td>{_fmt(f['respondents'])}</td>"
            f"<td>{_pct(f['response_rate'])}</td><td>{_fmt(f['trust_index'])}</td>"
            f"<td>{_fmt(f['safety_index'])}</td><td>{_pct(f['share_negative'])}</td>"
            f"<td>{_pct(f['share_positive'])}</td></tr>"
        )
    return f'<div class="scroll"><table>{head}{"".join(body)}</table></div>'


def render_html(
    *, summary: Summary, points: Sequence[tuple[Period, Row]], csv_name: str,
    generated_at: datetime, program: str, contact: str,
) -> str:
    """The page. Every dynamic string is HTML-escaped."""
    total = summary.total()
    f = total.figures
    k = summary.min_cell_size
    period = escape(summary.period.label)
    districts = [r for r in summary.rows if r.key[0][1] != ALL]
    withheld = sum(1 for r in districts if not r.published)
    if total.published:
        cards = (
            f'<div class="card"><small>People who answered</small><b>{_fmt(f["respondents"])}</b>'
            f"</div>"
            f'<div class="card"><small>Trust index (0-100)</small><b>{_fmt(f["trust_index"])}</b>'
            f'<small>95% range {_fmt(f["trust_index_low"])}–{_fmt(f["trust_index_high"])}</small>'
            f"</div>"
            f'<div class="card"><small>Safety index (0-100)</small><b>{_fmt(f["safety_index"])}'
            f'</b><small>95% range {_fmt(f["safety_index_low"])}–'
            f'{_fmt(f["safety_index_high"])}</small></div>'
            f'<div class="card"><small>Written answers that were negative</small>'
            f'<b>{_pct(f["share_negative"])}</b><small>positive {_pct(f["share_positive"])}'
            f"</small></div>"
        )
    else:
        cards = f'<p class="withheld">Fewer than {k} people answered in {period}: no figures.</p>'
    versions = escape(", ".join(summary.scorer_versions) or "none")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(program)}: community safety and trust survey, {period}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>Community safety and trust survey, {period}</h1>
<p class="lede">What residents told {escape(program)} by text message and Telegram about how safe
they feel and how much they trust the police. Published {escape(as_datetime(generated_at))}.</p>
<div class="cards">{cards}</div>

<h2>By district</h2>
<figure>{bar_chart(districts, k)}
<figcaption class="legend"><span style="background:{TRUST_COLOUR}"></span>Trust
<span style="background:{SAFETY_COLOUR}"></span>Safety. The thin line across each bar is the
95% range. {withheld} district(s) withheld to protect small groups.</figcaption></figure>
{_district_table(summary)}

<h2>Over time</h2>
<figure>{line_chart(points)}
<figcaption class="legend"><span style="background:{TRUST_COLOUR}"></span>Trust
<span style="background:{SAFETY_COLOUR}"></span>Safety, all districts. A gap means too few
people answered that period.</figcaption></figure>

<h2>What these numbers mean</h2>
<p><b>Trust index</b> comes from two questions: whether police treat people in the
neighbourhood with respect, and whether they listen to residents' concerns. Each is answered
from 1 (strongly disagree) to 5 (strongly agree). We average the two answers for each person
and turn the result into a 0-100 scale: (average − 1) ÷ 4 × 100. So 0 means everyone strongly
disagreed, 50 is neutral and 100 means everyone strongly agreed.</p>
<p><b>Safety index</b> is built the same way from "how safe do you feel in your neighbourhood
during the day" and "at night".</p>
<p><b>Written answers</b> ("what would make you feel safer?") are scored by a computer from −1
(negative) to +1 (positive). This is a rough guide beside the numbers people chose, never a
replacement for them (scorer version {versions}).</p>
<p><b>95% range</b>: surveys ask some residents, not all. If we asked again, the figure would
usually land inside this range. Small groups have wide ranges.</p>
<p><b>Privacy</b>: we never publish a figure about fewer than {k} people. When hiding one
figure is not enough (because it could be worked out by subtracting others from a total), we
hide another one too. No names, phone numbers or personal details are ever published, and
nobody's words are quoted here.</p>

<h2>Download the data</h2>
<p><a href="{escape(csv_name)}" download>{escape(csv_name)}</a>: the figures on this page and
more (every question, its distribution and 95% ranges), with a method note at the top. Full
method: {escape(METHODS_DOC)}; sentiment scorer: {escape(SENTIMENT_DOC)}. File checksums are
in MANIFEST.sha256.</p>
<footer>Questions or corrections: {escape(contact)}.</footer>
</main>
</body>
</html>
"""


def build_report(
    *, engine: Engine, settings: Settings, period: str, out: Path, now: datetime,
    actor: str = "cli",
) -> ReportResult:
    """Write ``index.html``, the district CSV and ``MANIFEST.sha256`` into ``out``; audit it."""
    parsed = parse_period(period, settings.timezone)
    k = settings.min_cell_size
    summary = summarize(engine, parsed, ("district",), min_cell_size=k,
                        dp_epsilon=settings.dp_epsilon)
    history = recent_periods(parsed, TREND_POINTS[parsed.kind], settings.timezone)
    points = trend(engine, history, min_cell_size=k)
    csv_name = f"summary-{parsed.label}-district.csv"
    html = render_html(
        summary=summary, points=points, csv_name=csv_name, generated_at=now,
        program=settings.program_name, contact=settings.contact,
    )
    csv_bytes = render_csv(summary, method_note(summary, now, settings.timezone))
    html_path, csv_path = out / "index.html", out / csv_name
    manifest = out / "MANIFEST.sha256"
    digests = write_with_manifest(
        [(html_path, html.encode("utf-8")), (csv_path, csv_bytes)], manifest
    )
    record_export(
        engine,
        action="export.report",
        subject=str(out.name),
        details={"period": parsed.label, "files": digests, "min_cell_size": k},
        now=now,
        actor=actor,
        manifest=manifest,
        settings=settings,
    )
    return ReportResult(out, html_path, csv_path, manifest, digests)
