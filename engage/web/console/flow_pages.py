"""Flows, read-only: each flow file's validation status and a preview played as a transcript
(the same ``Conversation`` as ``engage flows simulate``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from engage.accounts.roles import Permission
from engage.flow.loader import check_flow_file, flow_files
from engage.flow.model import Flow
from engage.flow.simulate import Conversation, context_names
from engage.flow.yamlread import Problem
from engage.web.console.guard import NotFound, Viewer, need
from engage.web.console.render import render

router = APIRouter(prefix="/console/flows")
CAN = Depends(need(Permission.FLOWS_READ))
MAX_REPLIES = 50


def _checked(request: Request) -> list[tuple[str, Flow | None, list[Problem]]]:
    directory = request.app.state.settings.flows_dir
    out: list[tuple[str, Flow | None, list[Problem]]] = []
    for path in flow_files(directory) if directory.is_dir() else []:
        flow, problems = check_flow_file(path)
        out.append((path.name, flow, list(problems)))
    return out


@router.get("")
def list_page(request: Request, viewer: Viewer = CAN) -> Response:
    return render(request, "flows.html", viewer=viewer, items=_checked(request))


@router.get("/{flow_id}")
def preview(request: Request, flow_id: str, lang: str | None = None, replies: str = "",
            viewer: Viewer = CAN) -> Response:
    """Play the flow with the replies typed (one per line) and show the transcript."""
    flow = next((f for _, f, _ in _checked(request) if f is not None and f.id == flow_id), None)
    if flow is None:
        raise NotFound("flow")
    language = lang if lang in flow.languages else flow.languages[0]
    conversation = Conversation(flow, datetime.now(UTC))
    conversation.start(language, {name: f"[{name}]" for name in context_names(flow)})
    for text in [line for line in replies.splitlines() if line.strip()][:MAX_REPLIES]:
        if conversation.status != "waiting":
            break
        conversation.reply(text)
    return render(request, "flow.html", viewer=viewer, flow=flow, lang=language,
                  replies=replies, transcript=conversation.transcript,
                  status_text=conversation.status,
                  results=(conversation.state.get("results") or {}))
