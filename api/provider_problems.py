"""Provider failures as 502 problem documents that tell the caller whether retrying can help."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from api.problems import PROBLEM_MEDIA_TYPE, problem_response
from commerce.exceptions import ProviderError, ProviderTimeout


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


def install_provider_problem_handler(app: FastAPI) -> None:
    """Any route a provider fails in answers 502 (not the 422 other commerce errors map to)."""

    async def _provider_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, ProviderError):  # pragma: no cover - registered for ProviderError only
            raise exc
        return provider_problem(request, exc)

    app.add_exception_handler(ProviderError, _provider_error)
