"""Shared helpers for the flow tests: the shipped flows, a fixed clock, small flow builders."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from engage.flow import Flow, load_flow, parse_flow
from engage.flow.engine import Step

ROOT = Path(__file__).resolve().parents[2]
FLOWS_DIR = ROOT / "flows"
GOLDEN_DIR = ROOT / "tests" / "golden"
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SHIPPED = ("satisfaction", "dialogue_rsvp", "session_feedback")


@cache
def shipped(flow_id: str) -> Flow:
    return load_flow(FLOWS_DIR / f"{flow_id}.yaml")


def make_flow(body: str) -> Flow:
    """A flow from an indented YAML snippet (languages en + es unless the snippet says)."""
    return parse_flow(textwrap.dedent(body), "test.yaml", areas_dir=FLOWS_DIR / "areas")


def roundtrip(step: Step) -> dict[str, Any]:
    """The state exactly as the runtime would store and load it."""
    state: dict[str, Any] = json.loads(json.dumps(step.state))
    return state


def says(step: Step) -> list[str]:
    return [e.text for e in step.events if e.type == "say"]


def types(step: Step) -> list[str]:
    return [e.type for e in step.events]
