"""``/v1/summary`` gives the export's table (JSON or CSV) and audits the download;
``/v1/public/summary`` gives the public page's figures without a token."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from engage import audit
from engage.analytics import summary_cache
from engage.analytics.exports import export_summary
from engage.config import Settings
from engage.storage.tables import AuditEntry
from tests.analytics.analytics_helpers import add_respondent, populate
from tests.web.api.conftest import Account

CELLS = {("Eastern", "25-34"): 15, ("Eastern", "18-24"): 2, ("Western", "25-34"): 12,
         ("Western", "18-24"): 11}


def _without_time(document: dict[str, Any]) -> dict[str, Any]:
    document["method"].pop("generated_at")
    return document


def test_json_is_the_export_table_and_the_download_is_audited(
        client: TestClient, accounts: dict[str, Account], db_engine: Engine,
        settings: Settings, tmp_path: Path, clock: Any) -> None:
    populate(db_engine, CELLS)
    staff = accounts["staff"]
    response = client.get("/api/v1/summary", params={"period": "2026Q3",
                                                     "by": "district,age_band"},
                          headers=staff.headers)
    assert response.status_code == 200 and response.headers["content-type"] == (
        "application/json")
    out = tmp_path / "summary.json"
    export_summary(engine=db_engine, settings=settings, period="2026Q3", by="district,age_band",
                   fmt="json", out=out, now=clock())
    exported = json.loads(out.read_text())
    served = response.json()
    assert _without_time(served) == _without_time(exported)
    withheld = [r for r in served["rows"] if r["status"] == "withheld"]
    assert withheld and all(r["respondents"] is None for r in withheld)
    with Session(db_engine) as s:
        entries = s.exec(select(AuditEntry).where(AuditEntry.action == "export.summary")
                         .order_by(AuditEntry.seq)).all()  # type: ignore[arg-type]
        assert audit.verify(s).ok
    assert entries[0].actor == f"user:{staff.user_id}" and entries[0].subject == "api"
    assert json.loads(entries[0].details)["format"] == "json"


def test_accept_text_csv_gives_the_csv_export(
        client: TestClient, accounts: dict[str, Account], db_engine: Engine,
        settings: Settings, tmp_path: Path, clock: Any) -> None:
    populate(db_engine, CELLS)
    response = client.get("/api/v1/summary?period=2026Q3&by=district",
                          headers={**accounts["admin"].headers, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    out = tmp_path / "summary.csv"
    export_summary(engine=db_engine, settings=settings, period="2026Q3", by="district",
                   fmt="csv", out=out, now=clock())
    assert response.text == out.read_text()
    prefers_json = client.get("/api/v1/summary?period=2026Q3", headers={
        **accounts["admin"].headers, "Accept": "text/csv;q=0.5, application/json"})
    assert prefers_json.headers["content-type"] == "application/json"


@pytest.mark.parametrize(("query", "field", "message"), [
    ("period=2026Q5", "query.period", "pattern"),
    ("period=yesterday", "query.period", "pattern"),
    ("period=2026Q3&by=district,neighbourhood", "query.by", "one area dimension"),
    ("period=2026Q3&by=shoe_size", "query.by", "pattern"),
    ("period=2026Q3&by=district,district", "query.by", "twice"),
    ("period=2026Q3&by=DISTRICT;drop", "query.by", "pattern"),
])
def test_bad_parameters_name_the_field(client: TestClient, accounts: dict[str, Account],
                                       query: str, field: str, message: str) -> None:
    response = client.get(f"/api/v1/summary?{query}", headers=accounts["staff"].headers)
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert body["errors"][0]["field"] == field and field in body["detail"]
    assert message in body["detail"]


def test_default_period_is_the_current_quarter(client: TestClient,
                                               accounts: dict[str, Account]) -> None:
    response = client.get("/api/v1/summary", headers=accounts["staff"].headers)
    assert response.status_code == 200 and response.json()["period"] == "2026Q3"


def test_new_answers_are_seen_at_once(client: TestClient, accounts: dict[str, Account],
                                      db_engine: Engine) -> None:
    """The cache is keyed on the data version: one more answer, a fresh table."""
    populate(db_engine, {("Eastern", "25-34"): 12})
    url, headers = "/api/v1/summary?period=2026Q3", accounts["staff"].headers
    assert client.get(url, headers=headers).json()["rows"][0]["respondents"] == 12
    with Session(db_engine) as s:
        add_respondent(s, district="Eastern", answers={"trust_respect": 3})
        s.commit()
    assert client.get(url, headers=headers).json()["rows"][0]["respondents"] == 13


def test_cached_summary_equals_a_fresh_one(db_engine: Engine, settings: Settings) -> None:
    from engage.analytics.metrics import summarize
    from engage.analytics.periods import parse_period

    populate(db_engine, CELLS)
    period = parse_period("2026Q3", settings.timezone)
    fresh = summarize(db_engine, period, ("district", "age_band"), min_cell_size=10)
    summary_cache.clear()
    first = summary_cache.cached_summarize(db_engine, period, ("district", "age_band"),
                                           min_cell_size=10)
    again = summary_cache.cached_summarize(db_engine, period, ("district", "age_band"),
                                           min_cell_size=10)
    assert first == fresh and again is first


def test_public_summary_needs_no_token_and_suppresses(client: TestClient,
                                                      db_engine: Engine) -> None:
    populate(db_engine, {("Eastern", "25-34"): 15, ("Western", "25-34"): 3,
                         ("Southern", "25-34"): 12})
    response = client.get("/api/v1/public/summary?period=2026Q3")
    assert response.status_code == 200
    body = response.json()
    rows = {r["district"]: r for r in body["summary"]["rows"]}
    assert rows["all"]["status"] == "published" and rows["all"]["respondents"] == 30
    assert (rows["Western"]["status"], rows["Western"]["reason"]) == ("withheld", "small")
    assert rows["Western"]["respondents"] is None
    assert [r["reason"] for r in rows.values()].count("complementary") == 1
    assert [p["period"] for p in body["trend"]] == ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    assert body["trend"][-1]["respondents"] == 30 and body["trend"][0]["respondents"] == 0


def test_public_summary_is_not_the_staff_one(client: TestClient) -> None:
    assert client.get("/api/v1/summary?period=2026Q3").status_code == 401


def test_a_month_is_a_period_too(client: TestClient, accounts: dict[str, Account],
                                          db_engine: Engine) -> None:
    with Session(db_engine) as s:
        for _ in range(10):
            add_respondent(s, district="Central", answers={"safe_day": 5},
                           at=datetime(2026, 5, 5, tzinfo=UTC))
        s.commit()
    body = client.get("/api/v1/summary?period=2026-05", headers=accounts["staff"].headers).json()
    assert body["period"] == "2026-05" and body["rows"][0]["respondents"] == 10


def test_an_erased_resident_leaves_the_next_summary(
        client: TestClient, accounts: dict[str, Account], db_engine: Engine, clock: Any) -> None:
    """DELETE must show at once, not after the cache ages: erasure changes the version."""
    from engage.privacy import erase_participant
    from engage.storage.tables import Participant

    populate(db_engine, {("Eastern", "25-34"): 12})
    url, headers = "/api/v1/summary?period=2026Q3", accounts["staff"].headers
    assert client.get(url, headers=headers).json()["rows"][0]["respondents"] == 12
    with Session(db_engine) as s:
        resident = s.exec(select(Participant)).first()
        assert resident is not None
        erase_participant(session=s, participant=resident, now=clock())
        s.commit()
    assert client.get(url, headers=headers).json()["rows"][0]["respondents"] == 11
