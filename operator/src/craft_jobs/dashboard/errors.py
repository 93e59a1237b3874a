"""Errors as JSON (`{"error": {"code", "field", "message"}}`) for the API, as a page for browsers.

Every error status has that one shape, whoever raised it: our own checks,
auth (401/403), FastAPI's request validation (422), Starlette (400, 404,
405), the database being down (503) and anything unexpected (500).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from craft_jobs.errors import (
    CraftJobsError,
    DatabaseUnavailableError,
    JobNotFoundError,
    RecurringJobNotFoundError,
    ValidationError,
)

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable and machine-readable: invalid, unauthenticated, forbidden, csrf, not_found, "
                                  "conflict, method_not_allowed, bad_request, bad_host, database_unavailable, not_ready, "
                                  "internal")
    message: str = Field(description="What went wrong, for a person")
    field: str | None = Field(None, description="The request field at fault (dotted path into the body), when there is one")


class ErrorBody(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "The request could not be read (for example a body that is not JSON)",
    401: "No valid credentials",
    403: "The credentials do not allow this (role, tenant or CSRF token)",
    404: "No such job, recurring job or endpoint (or one of another tenant)",
    409: "The action conflicts with the current state (for example deleting a deleted job)",
    422: "A field is invalid; `field` names it",
    503: "PostgreSQL is unavailable; try again shortly",
}
# Documented on every API operation (app.py), so clients and the spec agree on the shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description} for status, description in _DESCRIPTIONS.items()
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def not_found(what: str, field: str = "id") -> ApiError:
    return ApiError(404, "not_found", f"{what} does not exist", field)


def forbidden(message: str, field: str | None = None) -> ApiError:
    return ApiError(403, "forbidden", message, field)


class LoginRequired(Exception):
    """A page was asked for without credentials: send the browser to the login form."""


def _from_craft_error(exc: CraftJobsError) -> ApiError:
    if isinstance(exc, ValidationError):
        return ApiError(422, "invalid", exc.reason, exc.field)
    if isinstance(exc, JobNotFoundError):
        return ApiError(404, "not_found", str(exc), "id")
    if isinstance(exc, RecurringJobNotFoundError):
        return ApiError(404, "not_found", str(exc), "id")
    if isinstance(exc, DatabaseUnavailableError):
        return ApiError(503, "database_unavailable", "PostgreSQL is unavailable; try again shortly")
    log.error("unexpected %s: %s", type(exc).__name__, exc, exc_info=exc)
    return ApiError(500, "internal", "the server could not complete the request")


def _field_of(loc: tuple[Any, ...]) -> str:
    # ("body", "parameters", "x") -> "parameters.x"; ("query", "limit") -> "limit"
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else [str(p) for p in loc]
    return ".".join(parts) or "body"


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


def error_response(request: Request, error: ApiError) -> Response:
    if _wants_html(request):
        state = request.app.state.dashboard
        return state.templates.TemplateResponse(
            request, "error.html", {**state.page_context(request), "error": error}, status_code=error.status
        )
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field is not None:
        body["field"] = error.field
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse({"error": body}, status_code=error.status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(request, exc)

    @app.exception_handler(CraftJobsError)
    async def _craft_error(request: Request, exc: CraftJobsError) -> Response:
        return error_response(request, _from_craft_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        message = first["msg"]
        if first["type"] == "missing":
            message = "is required"
        return error_response(request, ApiError(422, "invalid", message, _field_of(tuple(first["loc"]))))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "no such page or endpoint" if exc.status_code == 404 else str(exc.detail)
        return error_response(request, ApiError(exc.status_code, code, message))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(request, ApiError(500, "internal", "the server could not complete the request"))

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        base = request.app.state.dashboard.base
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"{base}/login?next={quote(target)}", status_code=303)
