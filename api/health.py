"""Liveness, readiness and metrics for operators and orchestrators."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from api.db import database_is_reachable
from api.deps import SettingsDep
from api.observability.metrics import CONTENT_TYPE, exposition
from api.problems import DATABASE_RETRY_AFTER_S, Problem

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The process can serve: the database answers")
def readyz(request: Request) -> JSONResponse:
    # Asked anew each time: the API starts without its database and turns ready when it answers.
    ready = database_is_reachable(request.app.state.engine)
    return JSONResponse(
        {
            "status": "ready" if ready else "unavailable",
            "checks": {"database": "ok" if ready else "unreachable"},
        },
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


def _scraper(request: Request, settings: SettingsDep) -> None:
    """Only Prometheus, with `Authorization: Bearer <REELCART_METRICS_TOKEN>`; unset, /metrics is off."""
    if settings.metrics_token is None:
        raise Problem(404, "metrics are off on this server (REELCART_METRICS_TOKEN is not set)")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise Problem(
            401,
            "send 'Authorization: Bearer <REELCART_METRICS_TOKEN>' to read metrics",
            slug="invalid-metrics-token",
            headers={"WWW-Authenticate": 'Bearer realm="reelcart-metrics"'},
        )


@router.get(
    "/metrics",
    summary="Prometheus metrics (Bearer REELCART_METRICS_TOKEN)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}}, 401: {}, 404: {"description": "metrics are off"}},
)
def metrics(request: Request, _: Annotated[None, Depends(_scraper)]) -> Response:
    return Response(exposition(request.app.state.metrics), media_type=CONTENT_TYPE)
