"""RFC 9457 problem+json for every error the API returns, including 404s and validation errors: the
one place that maps exceptions (the domains' `ApiError` kinds, provider failures, bad input the
frameworks catch) to HTTP answers; routers hold no try/except for any of them."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import Scope, Send

from api.commerce_config import stored_token_problem
from api.db import is_database_outage
from api.errors import ApiError
from commerce.exceptions import CommerceError, ProviderError, ProviderTimeout, TokenCryptoError
from tagger.exceptions import TaggerError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://reelcart.dev/problems/"
# How long a client is asked to wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER_S = 5
# nginx's "client closed request": the status a request the client abandoned is logged and counted as.
CLIENT_CLOSED_REQUEST = 499

log = logging.getLogger("reelcart.api")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class Problem(ApiError):
    """An HTTP-level answer a router or dependency gives directly (authentication, routing, request
    shape); use cases raise their domain's `ApiError` kinds instead."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail, errors=errors, headers=headers)
        self.status = status
        self.slug = slug or _slugify(title or _TITLES.get(status, "error"))
        self.title = title


# A safety net under every problem: whatever a library put in an error's text (FFmpeg names the file it
# read, OSError its errno), an answer never shows the server's file layout. Paths under the usual
# top-level folders, and under the configured media and model dirs, become "<server path>".
REDACTED_PATH = "<server path>"
_SYSTEM_ROOTS = (
    "tmp|var|etc|home|root|usr|opt|srv|mnt|data|proc|sys|dev|run|work|private|Users|media|app|lib|bin|nix"
)
_PATH_TAIL = r"""(?:/[^\s'"`,;:)\]]*)?"""
_SYSTEM_PATH = re.compile(rf"(?<![\w/:.~-])/(?:{_SYSTEM_ROOTS}){_PATH_TAIL}")
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*|\berrno[ :=]*-?\d+\b", re.IGNORECASE)


def redact_server_details(text: str, roots: tuple[Path, ...] = ()) -> str:
    """`text` without server paths or errno numbers."""
    for root in sorted(
        {str(root) for root in roots if str(root) not in ("", "/", ".")}, key=len, reverse=True
    ):
        text = re.sub(rf"{re.escape(root)}{_PATH_TAIL}", REDACTED_PATH, text)
    return _ERRNO.sub("", _SYSTEM_PATH.sub(REDACTED_PATH, text))


def _server_roots(request: Request) -> tuple[Path, ...]:
    settings = getattr(request.app.state, "settings", None)
    if settings is None:
        return ()
    roots = [settings.media_dir, settings.model_dir, *settings.media_import_roots]
    # Absolute forms only: a relative "var/media" would also match ordinary words in a message.
    return tuple(
        {form for root in roots for form in (Path(root), Path(root).resolve()) if form.is_absolute()}
    )


def _redacted_errors(errors: list[dict[str, Any]], roots: tuple[Path, ...]) -> list[dict[str, Any]]:
    return [
        {
            key: redact_server_details(value, roots) if isinstance(value, str) else value
            for key, value in item.items()
        }
        for item in errors
    ]


def problem_body(
    status: int,
    detail: str,
    instance: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    roots: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """The RFC 9457 document every error answer carries, with server details redacted."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (slug or _slugify(title or _TITLES.get(status, "error"))),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": redact_server_details(detail, roots),
        "instance": instance,
    }
    if errors:
        body["errors"] = _redacted_errors(errors, roots)
    return body


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(
        status, detail, request.url.path, slug=slug, title=title, errors=errors, roots=_server_roots(request)
    )
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def send_problem(
    scope: Scope, send: Send, status: int, detail: str, *, slug: str, headers: dict[str, str] | None = None
) -> None:
    """A problem answered straight from ASGI middleware (body caps, rate limits): they refuse a request
    before FastAPI's exception handlers could see it."""
    body = json.dumps(problem_body(status, detail, scope.get("path", ""), slug=slug)).encode()
    raw_headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def provider_problem(request: Request, error: ProviderError) -> JSONResponse:
    """RFC 9457 extension members `provider`, `retryable` and `provider_status` beside the usual ones.

    Retrying a checkout with the same click id reuses the provider idempotency key, so `retryable`
    is safe to act on: it cannot create a second charge.
    """
    timed_out = isinstance(error, ProviderTimeout)
    base = problem_response(
        request,
        502,
        str(error),
        slug="provider-timeout" if timed_out else "provider-error",
        title="Provider timed out" if timed_out else "Provider error",
    )
    body: dict[str, Any] = json.loads(bytes(base.body))
    body |= {"provider": error.provider, "retryable": error.retryable, "provider_status": error.status}
    headers = {"Retry-After": "1"} if error.retryable else None
    return JSONResponse(body, status_code=502, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _slugify(text: str) -> str:
    return "-".join(text.lower().split())


_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for item in error.errors():
        # The first part says where (body, query, path, header); a field may itself be named "path".
        loc = list(item.get("loc", ()))
        location = [str(part) for part in (loc[1:] if loc and loc[0] in _LOCATIONS else loc)]
        fields.append({"field": ".".join(location) or "body", "message": item.get("msg", "invalid")})
    return fields


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: Starlette's 405 names only the first route's, and
    a path such as /v1/products has one route per method."""
    matched: list[tuple[str, set[str]]] = []
    for route in iter_route_contexts(request.app.router.routes):
        if route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                matched.append((route.path_format or "", set(route.methods)))
    # A literal path (/v1/episodes/upload) is that path's, as in OpenAPI, not also a template's
    # (/v1/episodes/{episode_id}) that happens to match it.
    literal = [methods for path, methods in matched if path == request.url.path]
    return sorted(set().union(*(literal or [methods for _, methods in matched])))


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _problem(request: Request, exc: ApiError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.detail,
            slug=exc.slug,
            title=exc.title,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        summary = "; ".join(f"{item['field']}: {item['message']}" for item in errors[:5])
        return problem_response(
            request, 422, f"request is invalid: {summary}", slug="validation-error", errors=errors
        )

    @app.exception_handler(ValidationError)
    async def _body_validation(request: Request, exc: ValidationError) -> JSONResponse:
        # Bodies a route parses itself (multipart or content-negotiated) fail here, not in FastAPI.
        errors = [
            {"field": ".".join(str(part) for part in item["loc"]) or "body", "message": item["msg"]}
            for item in exc.errors()
        ]
        summary = "; ".join(f"{item['field']}: {item['message']}" for item in errors[:5])
        return problem_response(
            request, 422, f"request is invalid: {summary}", slug="validation-error", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route for {request.method} {request.url.path}"
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            detail = f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
        errors = None
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer to a body that is not what its content type says (not UTF-8, or JSON
            # nested past what the parser takes)
            detail = "the body could not be read as JSON (not UTF-8, or nested too deeply)"
            errors = [{"field": "body", "message": "not readable JSON"}]
        return problem_response(request, exc.status_code, detail, errors=errors, headers=headers)

    @app.exception_handler(TaggerError)
    async def _tagger(request: Request, exc: TaggerError) -> JSONResponse:
        return problem_response(request, 422, str(exc), slug="unusable-media")

    @app.exception_handler(ProviderError)
    async def _provider(request: Request, exc: ProviderError) -> JSONResponse:
        # A half-done provider call leaves nothing behind: the request's session closes uncommitted.
        log.warning("%s %s: %s failed: %s", request.method, request.url.path, exc.provider, exc)
        return provider_problem(request, exc)

    @app.exception_handler(TokenCryptoError)
    async def _stored_token(request: Request, exc: TokenCryptoError) -> JSONResponse:
        unreadable = stored_token_problem(exc)
        return problem_response(request, unreadable.status, unreadable.detail, slug=unreadable.slug)

    @app.exception_handler(CommerceError)
    async def _commerce(request: Request, exc: CommerceError) -> JSONResponse:
        return problem_response(request, 422, str(exc), slug="commerce-error")

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error on %s: %s", request.url.path, exc.orig)
        return problem_response(
            request, 409, "the request conflicts with existing data (a duplicate or a dangling reference)"
        )

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if not is_database_outage(exc):
            return await _unexpected(request, exc)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return problem_response(
            request,
            503,
            "the database is unavailable; try again shortly",
            slug="database-unavailable",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    # IntegrityError, a statement the database refused, keeps its own handler above (MRO order).
    for kind in (OperationalError, InterfaceError, DBAPIError, PoolTimeout):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # Nobody reads this answer; the request's own cleanup (partial files, the session) already ran.
        log.info("client disconnected before %s %s was read", request.method, request.url.path)
        return problem_response(
            request, CLIENT_CLOSED_REQUEST, "the client closed the request", slug="client-closed-request"
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # This runs outside the request middleware (Starlette's outermost error handler), so the
        # request id is taken from the request's state, for the log line and the answer alike.
        request_id = getattr(request.state, "request_id", None)
        log.exception(
            "unhandled error on %s %s", request.method, request.url.path, extra={"request_id": request_id}
        )
        headers = {"X-Request-ID": request_id} if request_id else None
        return problem_response(
            request, 500, "an unexpected error occurred; it has been logged", headers=headers
        )
