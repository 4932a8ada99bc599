"""The deploy files come up on a fresh database and stop cleanly (docs/OPERATIONS.md,
"Install"): checked as text, since no container runtime or systemd runs in tests."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def test_compose_migrates_once_before_anything_else_starts() -> None:
    services = _compose()["services"]
    assert services["migrate"]["command"] == ["engage", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "scheduler", "worker"):
        service = services[name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert service["depends_on"]["db"] == {"condition": "service_healthy"}
        assert service["restart"] == "unless-stopped"
        assert service["stop_grace_period"] == "10s"  # engage stops within 8 s


def test_compose_web_sends_nothing_and_scales() -> None:
    services = _compose()["services"]
    web = services["web"]
    assert "--no-dispatcher" in web["command"] and "--no-migrate" in web["command"]
    for port in web.get("ports", []):  # never a fixed host port: --scale web=2 must work
        host = str(port).rsplit(":", 1)[0]
        assert host.endswith(":") or ":" not in str(port), port
    assert services["worker"]["command"] == ["engage", "worker"]
    assert web["environment"]["ENGAGE_INPROCESS_SCHEDULER"] == "false"


def test_systemd_units_wait_for_the_network_and_the_migration() -> None:
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} >= {"engage-migrate.service", "engage-web@.service",
                                       "engage-worker@.service", "engage-scheduler.service"}
    for unit in units:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(unit.read_text())
        assert parser["Unit"]["Wants"] == "network-online.target", unit.name
        assert "network-online.target" in parser["Unit"]["After"], unit.name
        if unit.name != "engage-migrate.service":
            assert "engage-migrate.service" in parser["Unit"]["After"], unit.name
            assert parser["Unit"]["Requires"] == "engage-migrate.service", unit.name
            assert float(parser["Service"]["TimeoutStopSec"]) >= 10, unit.name
        else:
            assert parser["Service"]["Type"] == "oneshot"
    web = (DEPLOY / "systemd" / "engage-web@.service").read_text()
    assert "--no-dispatcher" in web
