"""The public page (no login, en and es, the same suppression as the report) and summary
downloads (the export file, its manifest, audited with the staffer's id)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime

from sqlmodel import Session, select

from engage.analytics.metrics import summarize
from engage.analytics.periods import period_containing
from engage.storage.tables import AuditEntry
from tests.web.console.conftest import Console
from tests.web.console.test_security import _hostile_answers


def test_public_page_in_english_and_spanish_without_login(console: Console) -> None:
    _hostile_answers(console)  # twelve answers from Eastern: published; nobody else: withheld
    client = console.client()
    en, es = client.get("/public/"), client.get("/public/es/")
    assert en.status_code == es.status_code == 200
    assert "Community safety and trust survey" in en.text and 'lang="en"' in en.text
    assert "Encuesta comunitaria de seguridad y confianza" in es.text and 'lang="es"' in es.text
    assert en.headers["cache-control"].startswith("public")
    assert "frame-ancestors 'none'" in en.headers["content-security-policy"]
    period = period_containing(datetime.now(UTC), "quarter", console.settings.timezone)
    summary = summarize(console.engine, period, ("district",),
                        min_cell_size=console.settings.min_cell_size)
    eastern = next(r for r in summary.rows if r.key == (("district", "Eastern"),))
    assert eastern.published and f">{int(eastern.figures['respondents'] or 0)}<" in en.text
    assert "alert" not in en.text  # residents' words are never on the public page
    assert "set-cookie" not in en.headers


def test_summary_download_is_the_export_with_its_manifest(console: Console) -> None:
    client = console.client("staff")
    response = client.get("/console/summaries/download",
                          params={"period": "2026Q3", "by": ["district", "age_band"],
                                  "format": "csv"})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = sorted(archive.namelist())
    assert names == ["summary-2026Q3-district-age_band.csv",
                     "summary-2026Q3-district-age_band.csv.sha256"]
    data = archive.read(names[0])
    assert data.startswith(b"# ")  # the method note travels with the file
    assert hashlib.sha256(data).hexdigest() in archive.read(names[1]).decode()
    with Session(console.engine) as db:
        entry = db.exec(select(AuditEntry).where(AuditEntry.action == "export.summary")).one()
    assert entry.actor == f"user:{console.users['staff']}"


def test_bad_summary_requests_say_what_is_wrong(console: Console) -> None:
    client = console.client("staff")
    page = client.get("/console/summaries", params={"period": "last summer"})
    assert page.status_code == 400 and "period must look like 2026Q3" in page.text
    download = client.get("/console/summaries/download",
                          params={"period": "2026Q3", "format": "pdf"})
    assert download.status_code == 400 and "csv, json, xlsx" in download.text


def test_preview_groups_by_every_dimension_chosen(console: Console) -> None:
    page = console.client("staff").get("/console/summaries",
                                       params={"period": "2026Q3", "by": ["district", "age_band"]})
    assert page.status_code == 200
    assert '<th scope="col">age_band</th>' in page.text
    assert 'id="by-age_band" name="by" value="age_band" checked' in page.text
