"""``engage demo`` end to end on a small community: real webhooks, runtime, exports."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from sqlalchemy import func, select
from typer.testing import CliRunner

from engage.demo.community import Replier, build_residents
from engage.demo.run import run_demo
from engage.flow.areas import load_gazetteer
from engage.storage.db import make_engine
from engage.storage.tables import Message, Outbox, Participant, Response

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)


def test_community_is_seeded_and_varied(settings) -> None:
    gazetteer = load_gazetteer(settings.flows_dir / "areas" / "baltimore.yaml")
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
    a = build_residents(gazetteer, 300, seed=5, start=start, end=end)
    b = build_residents(gazetteer, 300, seed=5, start=start, end=end)
    assert a == b
    assert len({r.phone for r in a}) == 300
    assert {r.language for r in a} == {"en", "es"}
    assert len({r.neighbourhood.district for r in a}) >= 8
    assert all(start <= r.starts_at <= end for r in a)
    replier = Replier(1)
    replies = [replier.answer(r, "trust_respect", 0) for r in a]
    assert any(not x.strip().isdigit() for x in replies)  # words, typos, not only numbers
    assert replier.answer(a[0], "trust_respect", 1).isdigit()  # plain number when re-asked


def test_demo_runs_the_real_sms_path_and_writes_outputs(settings, tmp_path) -> None:
    small = settings.model_copy(update={"min_cell_size": 3})
    out = tmp_path / "demo"
    seen: list[int] = []
    result = run_demo(settings=small, residents=40, seed=7, out_dir=out, period="2026Q3",
                      now=NOW, on_progress=lambda done, total: seen.append(done))
    assert seen[-1] == 40 and result.residents == 40
    assert result.completed + result.declined == 40
    assert result.completed >= 30 and result.responses > 300
    engine = make_engine(result.database_url)
    with engine.connect() as conn:
        inbound = conn.execute(select(func.count()).select_from(Message).where(
            Message.direction == "in")).scalar_one()
        assert inbound == result.messages  # every text went through the webhook into storage
        districts = conn.execute(select(func.count(func.distinct(Response.district)))).scalar_one()
        assert districts >= 5
        spanish = conn.execute(select(func.count()).select_from(Participant).where(
            Participant.language == "es")).scalar_one()
        assert spanish >= 1
        phones = [row[0] for row in conn.execute(select(Participant.key))]
    engine.dispose()
    assert all(not key.startswith("+") for key in phones)
    rows = [line for line in result.export.read_text().splitlines() if not line.startswith("#")]
    table = list(csv.DictReader(rows))
    total = next(r for r in table if r["district"] == "all" and r["age_band"] == "all")
    assert int(total["respondents"]) > 0
    assert all(int(r["respondents"]) >= 3 for r in table if r["status"] == "published")
    everything = (result.export.read_text() + result.briefing.read_text()
                  + result.report.read_text())
    assert "+1410555" not in everything and "555-01" not in everything
    assert (out / "report" / "MANIFEST.sha256").exists()
    assert result.export.with_name(result.export.name + ".sha256").exists()


def test_demo_cli(settings, tmp_path, monkeypatch) -> None:
    from engage.cli import app

    out = tmp_path / "cli-demo"
    ok = CliRunner().invoke(app, ["demo", "--residents", "5", "--out", str(out),
                                  "--period", "2026Q3"])
    assert ok.exit_code == 0, ok.output
    assert "5 residents sent" in ok.output
    assert (out / "report" / "index.html").exists()
    bad = CliRunner().invoke(app, ["demo", "--residents", "0", "--out", str(out)])
    assert bad.exit_code == 1 and "at least 1" in bad.output


def _answers(database_url: str) -> list[tuple[object, ...]]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Response.name, Response.value, Response.text,
                                   Response.district, Response.answered_at)).all()
    engine.dispose()
    return sorted(tuple(str(v) for v in row) for row in rows)


def test_demo_figures_do_not_depend_on_interleaving(settings, tmp_path, monkeypatch) -> None:
    """Residents texting one at a time or several at once store the same answers at the same
    simulated times and export the same bytes: each resident's replies and clock are theirs."""
    import engage.demo.run as demo_run

    small = settings.model_copy(update={"min_cell_size": 3})
    results = []
    for concurrency in (1, 5):
        monkeypatch.setattr(demo_run, "CONCURRENCY", concurrency)
        results.append(run_demo(settings=small, residents=15, seed=11,
                                out_dir=tmp_path / f"c{concurrency}", period="2026Q3", now=NOW))
    one, many = results
    assert (one.messages, one.completed, one.responses) == (
        many.messages, many.completed, many.responses)
    assert _answers(one.database_url) == _answers(many.database_url)
    assert one.export.read_bytes() == many.export.read_bytes()


def test_demo_fills_the_configured_database_the_tour_reads(
        settings, db_url, db_engine, tmp_path, monkeypatch) -> None:
    """The README tour in order: demo, then export and report read what it wrote (SQLite
    and PostgreSQL); an earlier demo is replaced, real data is never touched."""
    from engage.cli import app
    from engage.config import get_settings
    from engage.storage.tables import Participant

    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_url)
    monkeypatch.setenv("ENGAGE_MIN_CELL_SIZE", "3")
    get_settings.cache_clear()
    runner = CliRunner()
    for _ in range(2):  # the second run replaces the first
        ok = runner.invoke(app, ["demo", "--residents", "12", "--period", "2026Q3"])
        assert ok.exit_code == 0, ok.output
        assert "the configured database" in ok.output
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Participant)).scalar_one() == 12
        pending = conn.execute(select(func.count()).select_from(Outbox).where(
            Outbox.status == "pending")).scalar_one()
        assert pending == 0  # a server on this database never texts the synthetic residents
    out = tmp_path / "summary.csv"
    summary = runner.invoke(app, ["export", "summary", "--period", "2026Q3", "--by",
                                  "district,age_band", "--format", "csv", "--out", str(out)])
    assert summary.exit_code == 0, summary.output
    rows = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    total = next(r for r in csv.DictReader(rows)
                 if r["district"] == "all" and r["age_band"] == "all")
    assert int(total["respondents"]) >= 8
    report = runner.invoke(app, ["report", "--period", "2026Q3", "--out", str(tmp_path / "r")])
    assert report.exit_code == 0, report.output
    assert "no data" not in (tmp_path / "r" / "index.html").read_text().lower()


def test_demo_refuses_a_database_with_real_residents(settings, db_url, db_engine,
                                                     monkeypatch) -> None:
    from engage.cli import app
    from engage.config import get_settings
    from engage.storage.db import session_scope

    with session_scope(db_engine) as session:
        session.add(Participant(channel="sms", key="k" * 64, created_at=NOW))
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    refused = CliRunner().invoke(app, ["demo", "--residents", "3", "--period", "2026Q3"])
    assert refused.exit_code == 1
    assert "already holds 1 residents who are not from a demo" in refused.output
    assert "--out DIR" in refused.output
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Participant)).scalar_one() == 1
