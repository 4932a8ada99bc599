"""Flows with their validation status (staff) and the audit chain's status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from engage import audit
from engage.accounts.roles import Permission
from engage.flow.loader import check_flow_file, flow_files
from engage.flow.model import Flow
from engage.flow.yamlread import Problem
from engage.web.api.common import Limit, Offset, Page, page, read, settings_of
from engage.web.api.security import CallerDep, permissions

router = APIRouter()


class FlowStatus(BaseModel):
    """One flow file and what ``engage flows validate`` says about it."""

    file: str = Field(description="Relative to the flows directory")
    id: str | None = Field(description="None when the file does not parse")
    title: str | None
    version: str | None
    languages: list[str]
    valid: bool
    errors: list[str]
    warnings: list[str]


class AuditStatus(BaseModel):
    """``engage audit verify``: whether the hash chain is intact."""

    ok: bool
    entries: int
    first_bad_seq: int | None
    reason: str | None


_CHECKED: dict[Path, tuple[tuple[int, int], tuple[Flow | None, list[Problem]]]] = {}


def _checked(path: Path) -> tuple[Flow | None, list[Problem]]:
    """``check_flow_file``, remembered until the file changes (parsing and checking every
    flow costs about 100 ms each; a dashboard polls)."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    hit = _CHECKED.get(path)
    if hit is None or hit[0] != stamp:
        hit = (stamp, check_flow_file(path))
        _CHECKED[path] = hit
    return hit[1]


@router.get("/v1/flows", response_model=Page[FlowStatus], tags=["flows"],
            openapi_extra=permissions(Permission.FLOWS_READ), summary="Flows and validity")
def list_flows(request: Request, _: CallerDep, limit: Limit = 50,
               offset: Offset = 0) -> dict[str, Any]:
    """Every flow in the flows directory, checked as ``engage flows validate`` checks it."""
    directory = settings_of(request).flows_dir
    items: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in flow_files(directory):
        flow, problems = _checked(path)
        name = str(path.relative_to(directory)) if path.is_relative_to(directory) else path.name
        errors = [f"{p.location}: {p.message}" for p in problems if p.severity == "error"]
        if flow is not None and flow.id in seen:
            errors.append(f"id: duplicate flow id {flow.id!r} (also in {seen[flow.id]})")
        elif flow is not None:
            seen[flow.id] = name
        items.append({
            "file": name, "id": flow.id if flow else None, "title": flow.title if flow else None,
            "version": flow.version if flow else None,
            "languages": list(flow.languages) if flow else [], "valid": not errors,
            "errors": errors,
            "warnings": [f"{p.location}: {p.message}" for p in problems
                         if p.severity == "warning"]})
    return page(items, limit, offset)


@router.get("/v1/audit/verify", response_model=AuditStatus, tags=["audit"],
            openapi_extra=permissions(Permission.AUDIT_STATUS), summary="Audit chain status")
def verify_audit(request: Request, _: CallerDep) -> dict[str, Any]:
    """Walks the hash chain and names the first entry that does not fit, if any."""
    result = read(request, audit.verify)
    return {"ok": result.ok, "entries": result.entries, "first_bad_seq": result.first_bad_seq,
            "reason": result.reason}
