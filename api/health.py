"""Liveness and readiness probes for operators and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.db import database_is_reachable

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The process can serve: the database answers")
def readyz(request: Request) -> JSONResponse:
    ready = database_is_reachable(request.app.state.engine)
    return JSONResponse(
        {
            "status": "ready" if ready else "unavailable",
            "checks": {"database": "ok" if ready else "unreachable"},
        },
        status_code=200 if ready else 503,
    )
