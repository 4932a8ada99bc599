"""The versioned HTTP API: ``/api/v1/...`` with its OpenAPI document at ``/api/openapi.json``.

A FastAPI sub-application mounted at ``/api`` on the main app, sharing its state (engine,
settings, runtime): its own error handlers make every error an RFC 9457 problem, and its
document describes only the API. Routes reuse the functions the CLI calls; see docs/API.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import State

from engage.web.api import campaigns, problems, sessions, status, summary
from engage.web.api.common import reject_unknown_query
from engage.web.api.security import PERMISSIONS_KEY, RateLimiter

ROUTERS = (summary.router, campaigns.router, sessions.router, status.router)  # the route table
API_PREFIX = "/api"
VERSION = "1.0.0"
_ERRORS = {
    401: "No token, or an unknown, revoked or expired one (see WWW-Authenticate)",
    403: "The token's role may not do this",
    422: "Invalid parameters: each field is named in `errors`",
    429: "Rate limit reached: retry after Retry-After seconds",
    503: "The database is busy or down: retry after Retry-After seconds",
}


def build_api(state: State) -> FastAPI:
    """The API application over the main app's ``state``."""
    api = FastAPI(title="engage API", version=VERSION, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", dependencies=[Depends(reject_unknown_query)],
                  description="Anonymized survey summaries, campaigns, dialogue sessions, "
                  "flows and audit status for staff tools and city data portals. "
                  "Authenticate with `Authorization: Bearer TOKEN` (`engage tokens create`).")
    api.state = state
    state.api_limiter = RateLimiter(state.settings.api_rate_per_minute)
    problems.install(api)
    for router in ROUTERS:
        api.include_router(router)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = _document(api)
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
    return api


def _document(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error response declared as a problem document."""
    doc = get_openapi(title=api.title, version=api.version, description=api.description,
                      routes=api.routes)
    doc["servers"] = [{"url": API_PREFIX}]
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = problems.Problem.model_json_schema(
        ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    problem = {problems.PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    retry = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            public = operation.get(PERMISSIONS_KEY) == []
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body is not valid JSON"})
            if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                responses.setdefault("404", {"description": "No such resource"})
            for code, text in _ERRORS.items():
                if public and code in (401, 403):
                    continue
                responses[str(code)] = {"description": text, "content": problem}
                if code in (429, 503):
                    responses[str(code)]["headers"] = retry
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    response["content"] = problem
    return doc


def mount(app: FastAPI) -> None:
    """Serve the API under ``/api`` on ``app`` (called by ``create_app``)."""
    app.mount(API_PREFIX, build_api(app.state))
