"""The OpenAPI document says what the API does, errors included: who may call each route (bearer
`securitySchemes`, per operation) and the problem+json answers each route can give, so a client (or
the API fuzz test, tests/api/test_fuzz_api.py) can hold the server to it.

Which problems a route can answer follows from what it is made of: every route 429 (the rate limits);
a key dependency 401 and 403; a database session 503 (the database is unavailable); a path parameter
404; any input 422; a write 409 (a conflict with stored data) and 413 (the body caps); a body 400 (not
what its content type says); an `If-Match` header 412, and a placement write (it requires one) 428.
Routes that parse their own bodies or call a provider add theirs below.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.routing import BaseRoute

from api.deps import _brand_id, _operator, _principal, _session  # the dependencies that say who calls
from api.review.dependencies import _editable_placement  # the one that needs If-Match

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names each field that was refused and why",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "description": "https://reelcart.dev/problems/<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": True},
            "description": "Field-level reasons: `field` (or `line` for an import) and `message`",
        },
    },
    "additionalProperties": True,
}

SECURITY_SCHEMES: dict[str, Any] = {
    "brandKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A brand's API key (`rc_…`): `Authorization: Bearer rc_…`",
    },
    "operatorKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An operator API key, for the admin routes",
    },
}

_DESCRIPTIONS = {
    400: "The request is malformed (for a webhook: its signature or timestamp does not verify)",
    401: "No API key, or one that is invalid or revoked",
    403: "The key may not use this route (or a media URL's signature is missing or expired)",
    404: "No such object, or another brand's",
    409: "The request conflicts with stored data",
    412: "`If-Match` names an older version",
    413: "The body is over its size limit",
    415: "The body's content type is not one this route takes",
    422: "A field was refused; `errors` says which and why",
    428: "`If-Match` is required",
    429: "Too many requests; `Retry-After` says when to try again",
    502: "The checkout or catalog provider failed; `retryable` says whether to try again",
    503: "The database or the providers' configuration is unavailable",
}

# Routes that parse their own bodies (415), verify signatures (400) or call a provider (502, 503).
_EXTRA: dict[tuple[str, str], set[int]] = {
    ("POST", "/v1/catalog/import"): {415},
    ("POST", "/v1/episodes/upload"): {415},
    ("POST", "/v1/products/{product_id}/images"): {415},
    ("POST", "/v1/checkout"): {502},
    ("POST", "/v1/catalog/sync/{provider}"): {502},
    ("PUT", "/v1/brands/me/providers/shopify"): {502},
    ("POST", "/webhooks/stripe"): {400},
    ("POST", "/webhooks/shopify"): {400},
    ("POST", "/v1/events"): {415},
}
# Routes that read their own body (declared through openapi_extra): it is required all the same.
_BODY_REQUIRED = {
    ("POST", "/v1/catalog/import"),
    ("POST", "/v1/episodes/upload"),
    ("POST", "/v1/products/{product_id}/images"),
    ("POST", "/v1/events"),
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def install_openapi(app: FastAPI) -> None:
    """Serve the documented schema at /openapi.json (and to /docs, /redoc)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            document_problems_and_security(schema, app.routes)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_problems_and_security(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    # Included routers are walked as FastAPI's own get_openapi walks them.
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        calls = set(_calls(route.dependant))
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            if (method, route.path_format) in _BODY_REQUIRED and "requestBody" in operation:
                operation["requestBody"]["required"] = True
            security = _security(calls)
            if security:
                operation["security"] = security
            documented = {int(s) for s in operation.get("responses", {}) if s[:1] in ("4", "5")}
            for status in sorted(
                documented | _statuses(method, route, operation, calls, bool(security), schema)
            ):
                _document_problem(operation, status)
    # FastAPI's own validation-error schemas describe a body this API never sends.
    text = json.dumps(schema)
    for name in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{name}"' not in text:
            components["schemas"].pop(name, None)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _security(calls: set[Callable[..., Any]]) -> list[dict[str, list[str]]]:
    if _brand_id in calls:
        return [{"brandKey": []}]
    if _operator in calls:
        return [{"operatorKey": []}]
    if _principal in calls:
        return [{"brandKey": []}, {"operatorKey": []}]
    return []


def _statuses(
    method: str,
    route: RouteContext,
    operation: dict[str, Any],
    calls: set[Callable[..., Any]],
    secured: bool,
    schema: dict[str, Any],
) -> set[int]:
    parameters = operation.get("parameters", [])
    statuses = set(_EXTRA.get((method, route.path_format or ""), set()))
    statuses.add(429)  # the rate limits (api/rate_limits.py) cover every route, by key or by client
    if secured:
        statuses |= {401, 403}
    if _session in calls:
        statuses.add(503)
    if any(parameter["in"] == "path" for parameter in parameters) or _body_names_an_id(operation, schema):
        statuses.add(404)  # an id in the path, or in the body (a placement, a variant…), that is not there
    if any(parameter["name"] == "sig" for parameter in parameters):
        statuses.add(403)  # a signed media URL whose signature is missing, wrong or expired
    if parameters or "requestBody" in operation or method in _WRITES:
        statuses.add(422)
    if method in _WRITES:
        statuses |= {409, 413}
    if "requestBody" in operation:
        statuses.add(400)  # a body that is not what its content type says (not UTF-8 JSON, say)
    if any(parameter["name"].lower() == "if-match" for parameter in parameters):
        statuses.add(412)
    if _editable_placement in calls:
        statuses.add(428)  # placements refuse a write without If-Match; products take one without
    return statuses


def _body_names_an_id(operation: dict[str, Any], schema: dict[str, Any]) -> bool:
    body = json.dumps(operation.get("requestBody", {}))
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        if f'"#/components/schemas/{name}"' in body:
            body += json.dumps(component)
    return '"format": "uuid"' in body


def _document_problem(operation: dict[str, Any], status: int) -> None:
    responses = operation.setdefault("responses", {})
    existing = responses.get(str(status), {})
    responses[str(status)] = {
        "description": (
            existing["description"]
            if existing.get("description") not in (None, "Validation Error")
            else _DESCRIPTIONS.get(status, "A problem")
        ),
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
