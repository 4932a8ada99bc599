"""Staff exports and briefings: formats, manifests, audit, determinism, and no PII."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from analytics_helpers import Q3, add_respondent, populate
from sqlmodel import Session, select
from typer.testing import CliRunner

from engage import audit
from engage.analytics.briefing import build_briefing, export_briefing, pick_quotes
from engage.analytics.exports import export_summary
from engage.errors import UserError
from engage.storage.tables import AuditEntry, Participant

NOW = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 10, 3, 17, 45, 12, tzinfo=UTC)
PHONE = "410-555-0199"
PHONE_E164 = "+14105550199"
EMAIL = "jane.doe@example.com"
STREET = "1234 N Charles St"
PII = (PHONE, PHONE_E164, "5550199", EMAIL, "jane.doe", "1234 N Charles", "Charles St")


def plant_pii(engine) -> list[str]:  # type: ignore[no-untyped-def]
    """Residents who wrote contact details into free text and even into a choice value."""
    keys: list[str] = []
    with Session(engine) as session:
        for i in range(24):
            text = (f"call me at {PHONE} or {PHONE_E164} or write {EMAIL}, I live at {STREET} "
                    f"and the street lights are out again")
            p = add_respondent(
                session, district="Eastern",
                answers={"trust_respect": 2 + i % 3, "trust_listen": 3, "safe_day": 4,
                         "safe_night": 2},
                groups={"age_band": "25-34" if i % 2 else "35-44",
                        "race_ethnicity": f"text me {PHONE}" if i == 0 else "black"},
                text=text, sentiment=-0.4, consent_quotes="granted",
            )
            keys.append(p.key)
        session.commit()
    return keys


def file_text(path: Path) -> str:
    """Everything a reader could see in the file (XLSX: every XML part, decompressed)."""
    data = path.read_bytes()
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return data.decode("utf-8")


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_export_writes_file_manifest_and_audit_entry(db_engine, settings, tmp_path, fmt) -> None:
    populate(db_engine, {("Eastern", "25-34"): 15, ("Eastern", "18-24"): 2,
                         ("Western", "25-34"): 12, ("Western", "18-24"): 11})
    out = tmp_path / f"summary.{fmt}"
    result = export_summary(engine=db_engine, settings=settings, period="2026Q3",
                            by="district,age_band", fmt=fmt, out=out, now=NOW)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert result.sha256 == digest
    first, checkpoint = result.manifest.read_text().splitlines()
    assert first == f"{digest}  summary.{fmt}"
    assert checkpoint.startswith('# {"audit_checkpoint":1,"seq":1,')
    text = file_text(out)
    for required in ("suppression", "fewer than 10 respondents", "engage-sentiment",
                     "2026-10-02T09:30:00Z", "Trust index"):
        assert required in text
    if fmt == "xlsx":  # the re-stamped zip is still a workbook a spreadsheet can open
        from openpyxl import load_workbook

        book = load_workbook(out)
        assert book.sheetnames == ["Summary", "Method"]
        header = [c.value for c in book["Summary"][1]]
        first = dict(zip(header, [c.value for c in book["Summary"][2]], strict=True))
        assert (first["district"], first["age_band"], first["respondents"]) == ("all", "all", 40)
    with Session(db_engine) as session:
        query = select(AuditEntry).where(AuditEntry.action == "export.summary")
        entries = session.exec(query).all()
        assert len(entries) == 1
        details = json.loads(entries[0].details)
        assert details["sha256"] == digest and details["withheld"] >= 2
        assert audit.verify(session).ok


def test_csv_rows_are_suppressed_and_carry_intervals(db_engine, settings, tmp_path) -> None:
    populate(db_engine, {("Eastern", "25-34"): 15, ("Eastern", "18-24"): 2,
                         ("Western", "25-34"): 12, ("Western", "18-24"): 11})
    out = tmp_path / "s.csv"
    export_summary(engine=db_engine, settings=settings, period="2026Q3", by="district,age_band",
                   fmt="csv", out=out, now=NOW)
    lines = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    by_key = {(r["district"], r["age_band"]): r for r in rows}
    assert by_key[("Eastern", "18-24")]["status"] == "withheld"
    assert by_key[("Eastern", "18-24")]["respondents"] == ""
    for r in rows:
        if r["status"] == "published":
            assert int(r["respondents"]) >= settings.min_cell_size
            assert float(r["trust_index_low"]) <= float(r["trust_index"]) <= float(
                r["trust_index_high"])
    assert by_key[("all", "all")]["respondents"] == "40"


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_planted_contact_details_never_reach_exports(db_engine, settings, tmp_path, fmt) -> None:
    keys = plant_pii(db_engine)
    out = tmp_path / f"summary.{fmt}"
    export_summary(engine=db_engine, settings=settings, period="2026Q3",
                   by="district,race_ethnicity", fmt=fmt, out=out, now=NOW)
    text = file_text(out)
    for secret in (*PII, *keys):
        assert secret not in text
    brief = tmp_path / f"brief.{'json' if fmt == 'json' else 'md'}"
    export_briefing(engine=db_engine, settings=settings, area="Eastern", session_id=None,
                    out=brief, fmt="json" if fmt == "json" else "md", now=NOW)
    brief_text = brief.read_text()
    assert "street light" in brief_text  # the quote survived, scrubbed
    assert "[phone]" in brief_text and "[email]" in brief_text and "[address]" in brief_text
    for secret in (*PII, *keys):
        assert secret not in brief_text


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_same_data_gives_same_bytes_apart_from_timestamps(db_engine, settings, tmp_path,
                                                          fmt) -> None:
    populate(db_engine, {("Eastern", "25-34"): 15, ("Eastern", "18-24"): 3,
                         ("Western", "25-34"): 22, ("Western", "18-24"): 11})
    paths = [tmp_path / f"{name}.{fmt}" for name in ("a", "b", "c")]
    for path, now in zip(paths, (NOW, NOW, LATER), strict=True):
        export_summary(engine=db_engine, settings=settings, period="2026Q3",
                       by="district,age_band", fmt=fmt, out=path, now=now)
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c
    if fmt == "xlsx":
        with zipfile.ZipFile(io.BytesIO(a)) as za, zipfile.ZipFile(io.BytesIO(c)) as zc:
            assert za.namelist() == zc.namelist()
            for name in za.namelist():
                left, right = za.read(name), zc.read(name)
                if left != right:
                    stamp = (b"2026-10-02T09:30:00Z", b"2026-10-03T17:45:12Z")
                    assert left.replace(*stamp) == right, name
    else:
        diff = [(x, y) for x, y in zip(a.decode().splitlines(), c.decode().splitlines(),
                                       strict=True) if x != y]
        assert diff and all("generated_at" in x and "2026-10-02T09:30:00Z" in x for x, _ in diff)


def test_quotes_only_from_residents_who_agreed(db_engine, settings) -> None:
    with Session(db_engine) as session:
        words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
                 "india", "juliet", "kilo", "lima"]
        for i, word in enumerate(words):
            add_respondent(session, district="Southern", answers={"trust_respect": 3},
                           text=f"QUOTE-OK {word} says we need more street lights",
                           sentiment=i / 12, consent_quotes="granted")
        for i, status in enumerate([None, "declined", "withdrawn"] * 4):
            add_respondent(session, district="Southern", answers={"trust_respect": 3},
                           text=f"SECRET-NOQUOTE {words[i]} wants more street lights",
                           sentiment=0.1, consent_quotes=status)
        gone = add_respondent(session, district="Southern", answers={"trust_respect": 3},
                              text="SECRET-ERASED please remember the street lights",
                              consent_quotes="granted")
        gone.erased_at = Q3
        for _ in range(3):  # skipped the question: the reply is not a quote
            add_respondent(session, district="Southern", answers={"trust_respect": 3},
                           text="prefer not to say", sentiment=0.0, consent_quotes="granted",
                           text_category="skipped")
        session.commit()
    briefing = build_briefing(engine=db_engine, settings=settings, area="southern", now=NOW)
    assert briefing.area == "Southern" and briefing.dimension == "district"
    assert len(briefing.quotes) == 3
    assert all(q.startswith("QUOTE-OK") for q in briefing.quotes)
    assert any(t.label.startswith("street light") for t in briefing.themes)
    q3 = next(p for p in briefing.trend if p.period == "2026Q3")
    assert not q3.withheld and q3.respondents == 28


def test_small_area_briefing_withholds_figures_quotes_and_themes(db_engine, settings,
                                                                  tmp_path) -> None:
    with Session(db_engine) as session:
        for _ in range(4):
            add_respondent(session, district="Northern", answers={"trust_respect": 1},
                           text="the corner store on my block is a problem", sentiment=-0.5,
                           consent_quotes="granted")
        for _ in range(30):
            add_respondent(session, district="Central", answers={"trust_respect": 4})
        session.commit()
    out = tmp_path / "northern.md"
    briefing, _ = export_briefing(engine=db_engine, settings=settings, area="Northern",
                                  session_id=None, out=out, fmt="md", now=NOW)
    assert all(p.withheld for p in briefing.trend)
    assert briefing.quotes == [] and briefing.themes == []
    text = out.read_text()
    assert "corner store" not in text and "withheld" in text
    assert (tmp_path / "northern.md.sha256").read_text().split()[1] == "northern.md"
    with Session(db_engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "export.briefing")).one()
        assert json.loads(entry.details)["area"] == "Northern"


def test_unknown_area_is_one_clear_error(db_engine, settings) -> None:
    populate(db_engine, {("Eastern", "25-34"): 3})
    with pytest.raises(UserError, match="unknown area 'Atlantis'"):
        build_briefing(engine=db_engine, settings=settings, area="Atlantis", now=NOW)


def test_pick_quotes_spreads_over_sentiment() -> None:
    candidates = [(i, f"answer number {i} about lights", i / 10 - 0.5, "en") for i in range(11)]
    picked = pick_quotes(candidates, 3)
    assert picked == ["answer number 1 about lights", "answer number 5 about lights",
                      "answer number 9 about lights"]
    assert pick_quotes([(1, "too short", 0.0, "en")], 3) == []


def test_cli_export_summary_and_errors(db_engine, settings, tmp_path, monkeypatch) -> None:
    from engage.cli import app
    from engage.config import get_settings

    populate(db_engine, {("Eastern", "25-34"): 12})
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()
    out = tmp_path / "cli.json"
    ok = runner.invoke(app, ["export", "summary", "--period", "2026Q3", "--by", "district",
                             "--format", "json", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    document = json.loads(out.read_text())
    assert document["rows"][0]["respondents"] == 12
    bad = runner.invoke(app, ["export", "summary", "--period", "Q5", "--by", "district",
                              "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code == 1
    assert "period must look like 2026Q3" in bad.output
    assert "Traceback" not in bad.output
    bad_by = runner.invoke(app, ["export", "summary", "--period", "2026Q3", "--by", "zip",
                                 "--out", str(tmp_path / "x.csv")])
    assert bad_by.exit_code == 1 and "unknown --by dimension" in bad_by.output
    neither = runner.invoke(app, ["export", "briefing"])
    assert neither.exit_code == 1 and "--session ID or --area NAME" in neither.output
    with Session(db_engine) as session:
        assert session.exec(select(Participant)).first() is not None


def test_briefing_for_a_dialogue_session_uses_its_area(db_engine, settings, tmp_path) -> None:
    from engage.storage.tables.scheduling import DialogueSession

    populate(db_engine, {("Eastern", "25-34"): 12})
    with Session(db_engine) as session:
        dialogue = DialogueSession(title="GVRS feedback", area="Eastern Park", place="Library",
                                   starts_at=NOW, ends_at=NOW, timezone="America/New_York",
                                   capacity=30, mediator="m1", checkin_code="ABC123")
        session.add(dialogue)
        session.commit()
        session_id = dialogue.id
    out = tmp_path / "session.json"
    briefing, _ = export_briefing(engine=db_engine, settings=settings, area=None,
                                  session_id=session_id, out=out, fmt="json", now=NOW,
                                  period="2026Q3")
    assert (briefing.dimension, briefing.area) == ("neighbourhood", "Eastern Park")
    assert json.loads(out.read_text())["trend"][-1]["respondents"] == 12
    with pytest.raises(UserError, match="no dialogue session with id 999"):
        export_briefing(engine=db_engine, settings=settings, area=None, session_id=999,
                        out=out, fmt="json", now=NOW)


def test_noise_option_is_declared_in_the_method_note(db_engine, settings, tmp_path) -> None:
    import random

    populate(db_engine, {("Eastern", "25-34"): 40, ("Western", "25-34"): 35})
    noisy_settings = settings.model_copy(update={"dp_epsilon": 0.5})
    out = tmp_path / "noisy.json"
    export_summary(engine=db_engine, settings=noisy_settings, period="2026Q3", by="district",
                   fmt="json", out=out, now=NOW, rng=random.Random(11))
    document = json.loads(out.read_text())
    assert "epsilon=0.5" in document["method"]["noise"]
    counts = {r["district"]: r["respondents"] for r in document["rows"]}
    assert counts != {"all": 75, "Eastern": 40, "Western": 35}
    assert all(abs(counts[d] - n) < 30 for d, n in (("Eastern", 40), ("Western", 35)))
