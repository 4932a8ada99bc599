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
from engage.analytics.metrics import ALL, UNKNOWN, Row, Summary, summarize, trend
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
.hint{font-size:.85rem;color:#555;margin:.5rem 0 .25rem}
@media (min-width:40rem){.hint{display:none}}
.lang{text-align:right;margin:0}
.nodata{background:#fff;border:1px solid #ddd;border-radius:.5rem;padding:1rem}
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
    html_es: Path | None = None  # the same page in Spanish
    answered: int = 0  # respondents in the period (0: the page says "no data")


def _fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


# Every word on the page, in each language the survey is offered in. Figures and district
# names are the same in both.
T: dict[str, dict[str, str]] = {
    "en": {
        "title": "Community safety and trust survey, {period}",
        "lede": "What residents told {program} by text message and Telegram about how safe "
                "they feel and how much they trust the police. Published {date}.",
        "other": '<a href="index.es.html" hreflang="es" lang="es">Leer en español</a>',
        "all": "All districts", "unknown": "Area not given",
        "answered": "People who answered", "trust": "Trust index (0-100)",
        "safety": "Safety index (0-100)", "range": "95% range",
        "negative": "Written answers that were negative", "positive": "positive",
        "few": "Fewer than {k} people answered in {period}: no figures.",
        "nodata": "No data for {period}: nobody answered the survey in this period yet.",
        "by_district": "By district", "over_time": "Over time",
        "bars_caption": "The thin line across each bar is the 95% range. {withheld} "
                        "district(s) withheld to protect small groups.",
        "line_caption": "all districts. A gap means too few people answered that period.",
        "Trust": "Trust", "Safety": "Safety", "district": "District",
        "respondents": "People who answered", "negative_col": "Negative",
        "positive_col": "Positive",
        "scroll": "Scroll sideways to see every column →",
        "withheld_row": "withheld (fewer than {k} people, or needed to protect a small group)",
        "bars_label": "Trust and safety index by district",
        "line_label": "Trust and safety index over time",
        "meaning": "What these numbers mean",
        "method": """<p><b>Trust index</b> comes from two questions: whether police treat people
in the neighbourhood with respect, and whether they listen to residents' concerns. Each is answered
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
nobody's words are quoted here.</p>""",
        "download": "Download the data",
        "download_text": "the figures on this page and more (every question, its distribution "
                         "and 95% ranges), with a method note at the top. Full method: "
                         "{methods}; sentiment scorer: {sentiment}. File checksums are in "
                         "MANIFEST.sha256.",
        "footer": "Questions or corrections: {contact}.",
        "months": "January February March April May June July August September October "
                  "November December",
        "date": "{month} {day}, {year}",
    },
    "es": {
        "title": "Encuesta de seguridad y confianza comunitaria, {period}",
        "lede": "Lo que los residentes dijeron a {program} por mensaje de texto y Telegram "
                "sobre cuán seguros se sienten y cuánto confían en la policía. Publicado el "
                "{date}.",
        "other": '<a href="index.html" hreflang="en" lang="en">Read in English</a>',
        "all": "Todos los distritos", "unknown": "Zona no indicada",
        "answered": "Personas que respondieron", "trust": "Índice de confianza (0-100)",
        "safety": "Índice de seguridad (0-100)", "range": "Rango del 95%",
        "negative": "Respuestas escritas negativas", "positive": "positivas",
        "few": "Menos de {k} personas respondieron en {period}: no hay cifras.",
        "nodata": "No hay datos de {period}: nadie ha respondido la encuesta en este "
                  "periodo todavía.",
        "by_district": "Por distrito", "over_time": "A lo largo del tiempo",
        "bars_caption": "La línea fina sobre cada barra es el rango del 95%. {withheld} "
                        "distrito(s) ocultos para proteger a grupos pequeños.",
        "line_caption": "todos los distritos. Un hueco indica que respondieron muy pocas "
                        "personas en ese periodo.",
        "Trust": "Confianza", "Safety": "Seguridad", "district": "Distrito",
        "respondents": "Personas que respondieron", "negative_col": "Negativas",
        "positive_col": "Positivas",
        "scroll": "Deslice hacia el lado para ver todas las columnas →",
        "withheld_row": "oculto (menos de {k} personas, o necesario para proteger a un grupo "
                        "pequeño)",
        "bars_label": "Índice de confianza y de seguridad por distrito",
        "line_label": "Índice de confianza y de seguridad a lo largo del tiempo",
        "meaning": "Qué significan estas cifras",
        "method": """<p>El <b>índice de confianza</b> sale de dos preguntas: si la policía trata
con respeto a la gente del barrio y si escucha las preocupaciones de los residentes. Cada
una se responde de 1 (muy en desacuerdo) a 5 (muy de acuerdo). Promediamos las dos
respuestas de cada persona y las pasamos a una escala de 0 a 100: (promedio − 1) ÷ 4 × 100.
Así, 0 significa que todos estuvieron muy en desacuerdo, 50 es neutral y 100 que todos
estuvieron muy de acuerdo.</p>
<p>El <b>índice de seguridad</b> se calcula igual a partir de "qué tan seguro se siente en
su barrio durante el día" y "de noche".</p>
<p>Las <b>respuestas escritas</b> ("¿qué haría su barrio más seguro?") las puntúa una
computadora de −1 (negativa) a +1 (positiva). Es una guía aproximada junto a las cifras que
eligió la gente, nunca un reemplazo (versión del puntuador {versions}).</p>
<p><b>Rango del 95%</b>: la encuesta pregunta a algunos residentes, no a todos. Si
preguntáramos de nuevo, la cifra casi siempre caería dentro de este rango. Los grupos
pequeños tienen rangos amplios.</p>
<p><b>Privacidad</b>: nunca publicamos una cifra sobre menos de {k} personas. Cuando ocultar
una cifra no basta (porque se podría deducir restando otras de un total), ocultamos otra
más. Nunca se publican nombres, números de teléfono ni datos personales, y aquí no se cita a
nadie.</p>""",
        "download": "Descargar los datos",
        "download_text": "las cifras de esta página y más (cada pregunta, su distribución y "
                         "rangos del 95%), con una nota de método al principio (en inglés). "
                         "Método completo: {methods}; puntuador de sentimiento: {sentiment}. "
                         "Las sumas de verificación están en MANIFEST.sha256.",
        "footer": "Preguntas o correcciones: {contact}.",
        "months": "enero febrero marzo abril mayo junio julio agosto septiembre octubre "
                  "noviembre diciembre",
        "date": "{day} de {month} de {year}",
    },
}
LANGUAGES = tuple(T)
PAGES = {"en": "index.html", "es": "index.es.html"}


def published_on(moment: datetime, language: str, tz: str | None = None) -> str:
    """The publication date in words, in the report's time zone ("December 5, 2026")."""
    from engage.scheduling.clock import zone

    local = moment.astimezone(zone(tz)) if tz else moment
    words = T[language]
    month = words["months"].split()[local.month - 1]
    return words["date"].format(month=month, day=local.day, year=local.year)


def _district_label(value: str, language: str = "en") -> str:
    """Escaped display name of a district key ("all" and "unknown" in words)."""
    if value == ALL:
        return T[language]["all"]
    if value == UNKNOWN:
        return T[language]["unknown"]
    return escape(value)


def bar_chart(rows: Sequence[Row], k: int, language: str = "en") -> str:
    """Trust and Safety index by district as horizontal bars with 95% CI whiskers."""
    words = T[language]
    published = [r for r in rows if r.published]
    width, label_w, bar_h, gap = 480, 130, 11, 12
    plot_w = width - label_w - 40
    height = 30 + len(published) * (2 * bar_h + gap) + 24
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{words["bars_label"]}">'
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
        name = _district_label(row.key[0][1], language)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h + 4}" font-size="13" text-anchor="end" '
            f'fill="currentColor">{name}</text>'
        )
        for offset, (column, colour, shown) in enumerate(
            (("trust_index", TRUST_COLOUR, words["Trust"]),
             ("safety_index", SAFETY_COLOUR, words["Safety"]))
        ):
            value = row.figures.get(column)
            top = y + offset * bar_h
            if value is None:
                continue
            parts.append(
                f'<rect x="{label_w}" y="{top}" width="{plot_w * value / 100:.1f}" '
                f'height="{bar_h - 2}" fill="{colour}"><title>{name}: {shown} '
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


def line_chart(points: Sequence[tuple[Period, Row]], language: str = "en") -> str:
    """Citywide Trust and Safety index per period; withheld periods leave a gap. The first
    and last period labels are anchored inside the plot, so neither is cut at the edge."""
    words = T[language]
    width, height, left, right, top, bottom = 480, 220, 36, 16, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    count = max(1, len(points) - 1)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{words["line_label"]}">'
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
        anchor = ("end" if i == len(points) - 1 and i > 0
                  else "start" if i == 0 and len(points) > 1 else "middle")
        parts.append(
            f'<text x="{xx:.1f}" y="{height - 12}" font-size="12" text-anchor="{anchor}" '
            f'fill="currentColor">{escape(period.label)}</text>'
        )
    for column, colour, shown in (("trust_index", TRUST_COLOUR, words["Trust"]),
                                  ("safety_index", SAFETY_COLOUR, words["Safety"])):
        segment: list[str] = []
        for i, (period, row) in enumerate(points):
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
                f"{escape(period.label)}: {shown} {value:.0f}</title></circle>"
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


def _district_table(summary: Summary, language: str = "en") -> str:
    """No response-rate column: everyone counted here answered, so it would read 100%."""
    words = T[language]
    k = summary.min_cell_size
    head = (
        f"<tr><th>{words['district']}</th><th>{words['respondents']}</th>"
        f"<th>{words['Trust']}</th><th>{words['Safety']}</th>"
        f"<th>{words['negative_col']}</th><th>{words['positive_col']}</th></tr>"
    )
    body: list[str] = []
    for row in summary.rows:
        label = _district_label(row.key[0][1], language)
        if not row.published:
            body.append(
                f'<tr class="withheld"><td>{label}</td><td colspan="5">'
                f"{words['withheld_row'].format(k=k)}</td></tr>"
            )
            continue
        f = row.figures
        body.append(
            f"<tr><td>{label}</td><td>{_fmt(f['respondents'])}</td>"
            f"<td>{_fmt(f['trust_index'])}</td>"
            f"<td>{_fmt(f['safety_index'])}</td><td>{_pct(f['share_negative'])}</td>"
            f"<td>{_pct(f['share_positive'])}</td></tr>"
        )
    return (f'<p class="hint">{words["scroll"]}</p>'
            f'<div class="scroll"><table>{head}{"".join(body)}</table></div>')


def render_html(
    *, summary: Summary, points: Sequence[tuple[Period, Row]], csv_name: str,
    generated_at: datetime, program: str, contact: str, language: str = "en",
    timezone: str | None = None,
) -> str:
    """The page in ``language`` (en, es), linking to the other. Every dynamic string is
    HTML-escaped. A period nobody answered in says so in words, with no empty charts."""
    words = T[language]
    total = summary.total()
    f = total.figures
    k = summary.min_cell_size
    period = escape(summary.period.label)
    districts = [r for r in summary.rows if r.key[0][1] != ALL]
    withheld = sum(1 for r in districts if not r.published)
    if total.published:
        cards = (
            f'<div class="card"><small>{words["answered"]}</small><b>{_fmt(f["respondents"])}'
            f"</b></div>"
            f'<div class="card"><small>{words["trust"]}</small><b>{_fmt(f["trust_index"])}</b>'
            f'<small>{words["range"]} {_fmt(f["trust_index_low"])}–'
            f'{_fmt(f["trust_index_high"])}</small></div>'
            f'<div class="card"><small>{words["safety"]}</small><b>{_fmt(f["safety_index"])}'
            f'</b><small>{words["range"]} {_fmt(f["safety_index_low"])}–'
            f'{_fmt(f["safety_index_high"])}</small></div>'
            f'<div class="card"><small>{words["negative"]}</small>'
            f'<b>{_pct(f["share_negative"])}</b><small>{words["positive"]} '
            f'{_pct(f["share_positive"])}</small></div>'
        )
    else:
        cards = f'<p class="withheld">{words["few"].format(k=k, period=period)}</p>'
    legend = (f'<span style="background:{TRUST_COLOUR}"></span>{words["Trust"]}'
              f'<span style="background:{SAFETY_COLOUR}"></span>{words["Safety"]}')
    if summary.answered == 0:
        figures = f'<p class="nodata">{words["nodata"].format(period=period)}</p>'
    else:
        figures = f"""<div class="cards">{cards}</div>

<h2>{words["by_district"]}</h2>
<figure>{bar_chart(districts, k, language)}
<figcaption class="legend">{legend}. {words["bars_caption"].format(withheld=withheld)}
</figcaption></figure>
{_district_table(summary, language)}

<h2>{words["over_time"]}</h2>
<figure>{line_chart(points, language)}
<figcaption class="legend">{legend}, {words["line_caption"]}</figcaption></figure>"""
    versions = escape(", ".join(summary.scorer_versions) or "none")
    download = words["download_text"].format(methods=escape(METHODS_DOC),
                                             sentiment=escape(SENTIMENT_DOC))
    return f"""<!doctype html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(program)}: {words["title"].format(period=period)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<p class="lang">{words["other"]}</p>
<h1>{words["title"].format(period=period)}</h1>
<p class="lede">{words["lede"].format(
        program=escape(program), date=published_on(generated_at, language, timezone))}</p>
{figures}

<h2>{words["meaning"]}</h2>
{words["method"].format(versions=versions, k=k)}

<h2>{words["download"]}</h2>
<p><a href="{escape(csv_name)}" download>{escape(csv_name)}</a>: {download}</p>
<footer>{words["footer"].format(contact=escape(contact))}</footer>
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
    pages = [(out / PAGES[language], render_html(
        summary=summary, points=points, csv_name=csv_name, generated_at=now,
        program=settings.program_name, contact=settings.contact, language=language,
        timezone=settings.timezone,
    ).encode("utf-8")) for language in LANGUAGES]
    csv_bytes = render_csv(summary, method_note(summary, now, settings.timezone))
    html_path, csv_path = pages[0][0], out / csv_name
    manifest = out / "MANIFEST.sha256"
    digests = write_with_manifest([*pages, (csv_path, csv_bytes)], manifest)
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
    return ReportResult(out, html_path, csv_path, manifest, digests, pages[1][0],
                        summary.answered)
