"""The public HTML report: self-contained, phone-friendly, suppressed, with its CSV."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

from analytics_helpers import Q3, populate
from sqlmodel import Session, select
from typer.testing import CliRunner

from engage.analytics.report import build_report
from engage.storage.tables import AuditEntry

NOW = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)


def test_report_is_self_contained_and_suppressed(db_engine, settings, tmp_path) -> None:
    populate(db_engine, {("Eastern", "25-34"): 25, ("Western", "25-34"): 18,
                         ("Central", "25-34"): 4, ("<b>Harbor</b>", "25-34"): 14})
    populate(db_engine, {("Eastern", "25-34"): 20}, at=datetime(2026, 5, 3, tzinfo=UTC))
    result = build_report(engine=db_engine, settings=settings, period="2026Q3",
                          out=tmp_path / "site", now=NOW)
    html = result.html.read_text()
    # phone-friendly and self-contained: viewport, inline CSS/SVG, no scripts or remote fetches
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<style>" in html and html.count("<svg") == 2
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@media" in html and "overflow-x:auto" in html
    # district names are escaped, never markup
    assert "&lt;b&gt;Harbor&lt;/b&gt;" in html and "<b>Harbor</b>" not in html
    # Central (4 people) is withheld; it and its complement never appear with figures
    assert "Central" in html
    central_row = re.search(r"<tr[^>]*><td>Central</td>.*?</tr>", html).group(0)
    assert "withheld" in central_row
    assert "fewer than 10 people" in html
    assert "(average − 1) ÷ 4 × 100" in html
    # over-time chart has a point for Q2 and Q3 (Q4 2025 and Q1 2026 had no answers)
    assert html.count("<circle") == 4
    # the CSV beside it, linked, and a manifest covering both files
    assert f'href="{result.csv.name}"' in html
    assert result.csv.exists() and result.csv.read_text().startswith("# what:")
    manifest = dict(
        reversed(line.split("  ")) for line in result.manifest.read_text().splitlines()
        if not line.startswith("# ")  # the audit checkpoint (engage.audit_checkpoints)
    )
    for path in (result.html, result.csv):
        assert manifest[path.name] == hashlib.sha256(path.read_bytes()).hexdigest()
    with Session(db_engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "export.report")).one()
        assert json.loads(entry.details)["period"] == "2026Q3"


def test_report_bar_chart_has_a_bar_per_published_district(db_engine, settings, tmp_path) -> None:
    populate(db_engine, {("Eastern", "25-34"): 25, ("Western", "25-34"): 18,
                         ("Southern", "25-34"): 2, ("Northern", "25-34"): 12}, at=Q3)
    result = build_report(engine=db_engine, settings=settings, period="2026-08",
                          out=tmp_path, now=NOW)
    html = result.html.read_text()
    bars = html.split("<svg", 2)[1].split("</svg>")[0]
    # Southern (2) withheld, so Northern (smallest published) is withheld as its complement
    assert bars.count("<rect") == 2 * 2
    assert ">Eastern<" in bars and ">Western<" in bars and ">Northern<" not in bars
    assert "2026-08" in html


def test_report_cli(db_engine, settings, tmp_path, monkeypatch) -> None:
    from engage.cli import app
    from engage.config import get_settings

    populate(db_engine, {("Eastern", "25-34"): 12})
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    out = tmp_path / "public"
    ok = CliRunner().invoke(app, ["report", "--period", "2026Q3", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert (out / "index.html").exists() and (out / "MANIFEST.sha256").exists()
    bad = CliRunner().invoke(app, ["report", "--period", "summer", "--out", str(out)])
    assert bad.exit_code == 1 and "period must look like" in bad.output


def test_commands_prepare_an_empty_sqlite_database(tmp_path, settings, monkeypatch) -> None:
    """The embedded default just works: an empty SQLite file is migrated, then reported on."""
    from engage.cli import app
    from engage.config import get_settings

    monkeypatch.setenv("ENGAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    get_settings.cache_clear()
    for args in (["report", "--period", "2026Q3", "--out", str(tmp_path / "r")],
                 ["export", "summary", "--period", "2026Q3", "--out", str(tmp_path / "s.csv")],
                 ["export", "briefing", "--area", "Eastern", "--out", str(tmp_path / "b.md")]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    assert (tmp_path / "s.csv").read_text().startswith("# what:")


def test_commands_report_an_unusable_database_in_one_line(tmp_path, settings, monkeypatch) -> None:
    from engage.cli import app
    from engage.config import get_settings

    # nothing listens on port 1 of the loopback: the connection is refused at once
    monkeypatch.setenv("ENGAGE_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    get_settings.cache_clear()
    for args in (["report", "--period", "2026Q3", "--out", str(tmp_path / "r")],
                 ["export", "summary", "--period", "2026Q3", "--out", str(tmp_path / "s.csv")],
                 ["export", "briefing", "--area", "Eastern", "--out", str(tmp_path / "b.md")]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, args
        assert result.output.count("\n") == 1 and "is unavailable" in result.output
        assert "Traceback" not in result.output


def test_report_in_spanish_too_and_readable(db_engine, settings, tmp_path) -> None:
    populate(db_engine, {("Eastern", "25-34"): 25, ("Western", "25-34"): 18})
    result = build_report(engine=db_engine, settings=settings, period="2026Q3",
                          out=tmp_path / "site", now=NOW)
    en, es = result.html.read_text(), (tmp_path / "site" / "index.es.html").read_text()
    assert '<html lang="es">' in es and 'href="index.html"' in es
    assert 'href="index.es.html"' in en
    assert "Índice de confianza" in es and "Todos los distritos" in es
    assert "Publicado el 2 de octubre de 2026" in es and "Published October 2, 2026" in en
    for page in (en, es):
        assert "2026-10-02T" not in page  # no raw ISO timestamp
        assert "trust_index" not in page and "safety_index" not in page  # no internal names
        assert "Response rate" not in page and "<td>100%</td>" not in page
        assert 'class="hint"' in page and "overflow-x:auto" in page  # says it scrolls
    # the last period label is anchored inside the chart, so it is never cut
    last = re.findall(r'<text [^>]*text-anchor="(\w+)"[^>]*>2026Q3</text>', en)
    assert last == ["end"]
    manifest = result.manifest.read_text()
    assert "index.es.html" in manifest and "index.html" in manifest


def test_an_empty_period_says_no_data(db_engine, settings, tmp_path, monkeypatch) -> None:
    from engage.cli import app
    from engage.config import get_settings

    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()
    report = runner.invoke(app, ["report", "--period", "2026Q3", "--out", str(tmp_path / "r")])
    assert report.exit_code == 0 and "no data for 2026Q3" in report.stderr
    for name, words in (("index.html", "No data for 2026Q3"),
                        ("index.es.html", "No hay datos de 2026Q3")):
        page = (tmp_path / "r" / name).read_text()
        assert words in page and "<svg" not in page and "–" not in page.split("<h2>")[0]
    summary = runner.invoke(app, ["export", "summary", "--period", "2026Q3", "--out",
                                  str(tmp_path / "s.csv")])
    assert summary.exit_code == 0 and "no data for 2026Q3" in summary.stderr
