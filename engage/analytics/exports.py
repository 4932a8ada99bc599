"""Staff exports of the anonymized summary: CSV, JSON or XLSX, each with a method note, a
SHA-256 manifest beside it and an audit-log entry.

Only aggregates leave through here: no address, chat id, participant key or free text. Every
string that does go out (dimension values) is scrubbed again on the way, so even a bad value
stored upstream cannot carry a phone number into a file. Output is deterministic: the same
data and the same ``generated_at`` give the same bytes (rows sorted, floats rounded, XLSX
zip entries stamped with ``generated_at`` instead of the wall clock).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from engage import audit
from engage.analytics.metrics import (
    FIGURE_COLUMNS,
    LIKERT_ITEMS,
    Summary,
    as_datetime,
    parse_dimensions,
    summarize,
)
from engage.analytics.periods import parse_period
from engage.config import Settings
from engage.errors import UserError
from engage.privacy import scrub

FORMATS = ("csv", "json", "xlsx")
METHODS_DOC = "docs/METHODS.md"
SENTIMENT_DOC = "docs/SENTIMENT.md"
INTEGER_COLUMNS = frozenset({"respondents", "sentiment_n", *(f"{i}_n" for i in LIKERT_ITEMS)})


@lru_cache(maxsize=4096)
def clean(value: str) -> str:
    """Scrub a string bound for an export (defence in depth: stored text is scrubbed too).

    Remembered: scrubbing costs about 0.3 ms (phone-number matching) and a table repeats the
    same few dimension values in every row; a 70-row table took 50 ms to render without it."""
    return scrub(value)


def current_scorer_version() -> str:
    """The sentiment scorer version of this build ("unknown" if the scorer is missing)."""
    try:
        from engage.analytics.sentiment import SCORER_VERSION
    except ImportError:
        return "unknown"
    return str(SCORER_VERSION)


def method_note(summary: Summary, generated_at: datetime, tz: str) -> dict[str, str]:
    """What, when, how: the plain-language note that travels inside every export."""
    period = summary.period
    dims = ", ".join(summary.dims) or "the whole city"
    versions = ", ".join(summary.scorer_versions) or "none stored"
    dp = (
        f"Laplace noise with epsilon={summary.dp_epsilon:g} (scale 1/epsilon) was added to "
        "every published respondent count, which was then rounded and floored at 0; means, "
        "indices and shares are computed from the true data."
        if summary.dp_epsilon
        else "none (counts are exact)"
    )
    return {
        "what": (
            f"Anonymized resident satisfaction survey ({summary.flow_id}) summary for "
            f"{period.label} ({as_datetime(period.start)} to {as_datetime(period.end)}, "
            f"calendar of {tz}), broken down by {dims}. 'all' marks a total."
        ),
        "generated_at": as_datetime(generated_at),
        "unit": (
            "A respondent is one resident's most recent survey in the period; each answers "
            "at most once in a figure. Response rate = residents who answered at least one "
            "question / residents asked (area cells only)."
        ),
        "indices": (
            "Trust index = (mean of trust_respect and trust_listen - 1) / 4 x 100; Safety "
            "index = (mean of safe_day and safe_night - 1) / 4 x 100; both 0-100, per "
            "respondent who answered both items, then averaged. Likert items run 1 (worst) to "
            "5 (best); *_pct_1..5 is the distribution in percent."
        ),
        "intervals": (
            "Each *_low/*_high pair is a 95% confidence interval: Student t for means and "
            "indices, Wilson score for shares and the response rate."
        ),
        "sentiment": (
            f"Free-text answers scored in [-1, 1] by engage's sentiment scorer (versions in "
            f"this data: {versions}; current: {current_scorer_version()}; see "
            f"{SENTIMENT_DOC}). Negative < -0.05 <= neutral <= 0.05 < positive. A hint "
            "beside the Likert answers, never the whole measure."
        ),
        "suppression": (
            f"Every cell describing fewer than {summary.min_cell_size} respondents is withheld "
            "(status 'withheld', reason 'small'), and further cells are withheld (reason "
            "'complementary') so that no withheld figure can be recovered by subtracting "
            "published cells from published totals."
        ),
        "noise": dp,
        "privacy": (
            "Aggregates only: no phone number, chat id, participant key or free text. "
            f"Method in plain language: {METHODS_DOC}."
        ),
    }


def _fmt(column: str, value: float | None) -> str:
    if value is None:
        return ""
    if column in INTEGER_COLUMNS:
        return str(int(value))
    return repr(float(value))


def table(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """Header and rows as strings: the one tabular shape behind CSV, XLSX and the report."""
    header = ["period", *summary.dims, "status", "reason", *FIGURE_COLUMNS]
    rows: list[list[str]] = []
    for row in summary.rows:
        status = "published" if row.published else "withheld"
        values = [_fmt(c, row.figures.get(c)) for c in FIGURE_COLUMNS]
        rows.append(
            [summary.period.label, *(clean(v) for _, v in row.key), status, row.reason or "",
             *values]
        )
    return header, rows


def render_csv(summary: Summary, note: dict[str, str]) -> bytes:
    """CSV with the method note as leading ``#`` comment lines (it travels with the file)."""
    buffer = io.StringIO()
    for name, text in note.items():
        buffer.write(f"# {name}: {text}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    header, rows = table(summary)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def render_json(summary: Summary, note: dict[str, str]) -> bytes:
    document = summary_document(summary, note)
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def summary_document(summary: Summary, note: dict[str, str]) -> dict[str, Any]:
    """The JSON export as data (the API serves it compact: indented JSON is encoded in pure
    Python, 10-20 ms for a district x age band table)."""
    rows: list[dict[str, Any]] = []
    for row in summary.rows:
        item: dict[str, Any] = {d: clean(v) for d, v in row.key}
        item["status"] = "published" if row.published else "withheld"
        item["reason"] = row.reason
        for column in FIGURE_COLUMNS:
            value = row.figures.get(column)
            item[column] = int(value) if value is not None and column in INTEGER_COLUMNS else value
        rows.append(item)
    document = {
        "method": note,
        "period": summary.period.label,
        "dimensions": list(summary.dims),
        "min_cell_size": summary.min_cell_size,
        "columns": ["period", *summary.dims, "status", "reason", *FIGURE_COLUMNS],
        "rows": rows,
    }
    return document


_CORE_TIMES = re.compile(r"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def render_xlsx(summary: Summary, note: dict[str, str], generated_at: datetime) -> bytes:
    """Workbook with a Summary and a Method sheet; zip entries and document properties are
    stamped with ``generated_at`` so identical data gives identical bytes."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Summary"
    header, rows = table(summary)
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_value(h, v) for h, v in zip(header, row, strict=True)])
    method = book.create_sheet("Method")
    for name, text in note.items():
        method.append([name, text])
    raw = io.BytesIO()
    book.save(raw)
    stamp = generated_at.astimezone(UTC).timetuple()[:6]
    iso = as_datetime(generated_at)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dest:
        for info in sorted(source.infolist(), key=lambda i: i.filename):
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _CORE_TIMES.sub(rf"\g<1>{iso}\g<2>", data.decode()).encode()
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dest.writestr(entry, data)
    return out.getvalue()


def _xlsx_value(column: str, text: str) -> str | float | int | None:
    if column not in FIGURE_COLUMNS:
        return text
    if text == "":
        return None
    return int(text) if column in INTEGER_COLUMNS else float(text)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_with_manifest(files: Sequence[tuple[Path, bytes]], manifest: Path) -> dict[str, str]:
    """Write files, then a ``sha256sum -c`` compatible manifest naming them (relative)."""
    digests: dict[str, str] = {}
    for path, data in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digests[path.name] = sha256_hex(data)
    lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))
    manifest.write_text(lines, encoding="utf-8")
    return digests


def record_export(
    engine: Engine, *, action: str, subject: str, details: dict[str, Any], now: datetime,
    actor: str, manifest: Path | None = None, settings: Settings | None = None,
) -> None:
    """One audit-log entry per export (what, which file digest, which rule). With
    ``manifest`` and ``settings``, a signed checkpoint of the chain (this entry included) is
    taken and added to the manifest as a comment line (``sha256sum -c`` skips it), so every
    export carries a copy of the chain's head outside the database."""
    with Session(engine) as session:
        audit.append(
            session=session, actor=actor, action=action, subject=subject, details=details, now=now
        )
        session.commit()
    if manifest is not None and settings is not None:
        from engage import audit_checkpoints

        checkpoint = audit_checkpoints.take(engine, settings, now=now)
        with manifest.open("a", encoding="utf-8") as handle:
            handle.write(f"# {checkpoint.line()}\n")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest: Path
    sha256: str
    rows: int
    withheld: int
    answered: int = 0  # respondents in the period (0: say "no data", not an empty table)


def export_summary(
    *,
    engine: Engine,
    settings: Settings,
    period: str,
    by: str | Sequence[str],
    fmt: str,
    out: Path,
    now: datetime,
    actor: str = "cli",
    rng: Any = None,
) -> ExportResult:
    """Summarize, render in ``fmt``, write ``out`` and ``out.sha256``, and audit it."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if now.tzinfo is None:
        raise UserError("export time must be timezone-aware")
    dims = parse_dimensions(by)
    parsed = parse_period(period, settings.timezone)
    summary = summarize(
        engine,
        parsed,
        dims,
        min_cell_size=settings.min_cell_size,
        dp_epsilon=settings.dp_epsilon,
        rng=rng,
    )
    note = method_note(summary, now, settings.timezone)
    if fmt == "csv":
        data = render_csv(summary, note)
    elif fmt == "json":
        data = render_json(summary, note)
    else:
        data = render_xlsx(summary, note, now)
    manifest = out.with_name(out.name + ".sha256")
    digest = write_with_manifest([(out, data)], manifest)[out.name]
    withheld = sum(1 for r in summary.rows if not r.published)
    record_export(
        engine,
        action="export.summary",
        subject=out.name,
        details={
            "period": parsed.label,
            "by": list(dims),
            "format": fmt,
            "sha256": digest,
            "rows": len(summary.rows),
            "withheld": withheld,
            "min_cell_size": settings.min_cell_size,
            "dp_epsilon": settings.dp_epsilon,
        },
        now=now,
        actor=actor,
        manifest=manifest,
        settings=settings,
    )
    return ExportResult(out, manifest, digest, len(summary.rows), withheld, summary.answered)
