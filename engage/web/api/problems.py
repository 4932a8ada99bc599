"""RFC 9457 problem details: the one JSON shape of every API error.

``ApiProblem`` is raised by routes; the handlers below also turn FastAPI's validation errors
(422, with each field named), Starlette's HTTP errors, engage's own errors and anything
unexpected into ``application/problem+json`` bodies. Nothing personal and no token is ever
echoed back: a validation error names the field and the rule, not the value.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from engage.errors import RetryableError, UserError

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://engage.invalid/problems/"  # stable identifiers, not fetched
log = logging.getLogger("engage.api")

TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 406: "Not acceptable", 409: "Conflict",
    415: "Unsupported media type", 422: "Invalid parameters", 429: "Too many requests",
    500: "Internal server error", 503: "Service unavailable",
}


class FieldProblem(BaseModel):
    """One invalid field: where it is (``query.period``, ``body.throttle_per_minute``) and why."""

    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="A URI naming the kind of problem")
    title: str = Field(description="Short summary of the kind of problem")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong this time, in plain words")
    instance: str | None = Field(None, description="The request path")
    errors: list[FieldProblem] | None = Field(None, description="Invalid fields (422 only)")


class ApiProblem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(self, status: int, detail: str, *, kind: str | None = None,
                 headers: dict[str, str] | None = None,
                 errors: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or TITLES.get(status, "error").lower().replace(" ", "-")
        self.headers = headers or {}
        self.errors = errors


def invalid(field: str, message: str) -> ApiProblem:
    """A 422 naming one field (``query.period``, ``body.start``...)."""
    return ApiProblem(422, f"{field}: {message}", kind="invalid-parameters",
                      errors=[FieldProblem(field=field, message=message)])


def problem_response(request: Request, problem: ApiProblem) -> JSONResponse:
    body = Problem(type=TYPE_BASE + problem.kind, title=TITLES.get(problem.status, "Error"),
                   status=problem.status, detail=problem.detail, instance=request.url.path,
                   errors=problem.errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=problem.status,
                        headers=problem.headers, media_type=PROBLEM_MEDIA_TYPE)


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def _validation_problem(exc: RequestValidationError) -> ApiProblem:
    errors = [FieldProblem(field=_field_name(tuple(e.get("loc", ()))),
                           message=str(e.get("msg", "invalid")))
              for e in exc.errors()]
    names = ", ".join(dict.fromkeys(e.field for e in errors))
    first = errors[0].message if errors else "invalid"
    return ApiProblem(422, f"invalid {names}: {first}", kind="invalid-parameters",
                      errors=errors)


def install(app: FastAPI) -> None:
    """Register the handlers that make every error a problem document."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiProblem)
        return problem_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(request, _validation_problem(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        return problem_response(request, ApiProblem(exc.status_code, detail,
                                                    headers=dict(exc.headers or {})))

    async def on_user_error(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, ApiProblem(422, str(exc), kind="invalid-request"))

    async def on_retryable(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, ApiProblem(503, str(exc), kind="retry-later",
                                                    headers={"Retry-After": "5"}))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api error on %s %s", request.method, request.url.path)
        return problem_response(request, ApiProblem(
            500, "unexpected error: it was logged; try again or tell the administrator"))

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RetryableError, on_retryable)
    app.add_exception_handler(UserError, on_user_error)
    app.add_exception_handler(Exception, on_unexpected)
