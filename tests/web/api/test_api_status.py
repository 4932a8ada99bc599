"""``/v1/flows`` (validation status as ``engage flows validate`` sees it) and
``/v1/audit/verify`` (the chain, as ``engage audit verify`` walks it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from engage.config import DEFAULT_FLOWS_DIR, Settings
from tests.web.api.conftest import Account


@pytest.fixture
def api_settings(settings: Settings, tmp_path: Path) -> Settings:
    flows = tmp_path / "flows"
    shutil.copytree(DEFAULT_FLOWS_DIR, flows)
    (flows / "broken.yaml").write_text("id: broken\nversion: 1\nstart: nowhere\nnodes: {}\n")
    return settings.model_copy(update={"flows_dir": flows})


def test_flows_with_their_validation_status(client: TestClient,
                                            accounts: dict[str, Account]) -> None:
    response = client.get("/api/v1/flows", headers=accounts["staff"].headers)
    assert response.status_code == 200
    flows = {f["file"]: f for f in response.json()["items"]}
    assert flows["satisfaction.yaml"]["valid"] and flows["satisfaction.yaml"]["id"] == (
        "satisfaction")
    assert set(flows["satisfaction.yaml"]["languages"]) == {"en", "es"}
    broken = flows["broken.yaml"]
    assert not broken["valid"] and broken["errors"]
    assert response.json()["total"] == len(flows) == 4
    page = client.get("/api/v1/flows?limit=2&offset=2", headers=accounts["staff"].headers)
    assert [f["file"] for f in page.json()["items"]] == list(flows)[2:4]


def test_audit_status_finds_a_tampered_entry(client: TestClient, accounts: dict[str, Account],
                                             db_engine: Engine) -> None:
    headers = accounts["admin"].headers
    intact = client.get("/api/v1/audit/verify", headers=headers).json()
    assert intact["ok"] and intact["entries"] >= 4 and intact["first_bad_seq"] is None
    with db_engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET action = 'edited' WHERE seq = 2"))
    broken = client.get("/api/v1/audit/verify", headers=headers).json()
    assert not broken["ok"] and broken["first_bad_seq"] == 2 and "altered" in broken["reason"]
