"""Request dependencies: settings, database session, and who is calling (as `Annotated` aliases)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlmodel import Session

from api.auth import Principal, authenticate
from api.brands.models import ApiKeyScope
from api.problems import Problem
from api.settings import ApiSettings


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def _session(request: Request) -> Iterator[Session]:
    # Routes commit explicitly once their work is complete; closing an uncommitted session rolls it
    # back, so a request that fails part-way leaves nothing half-written.
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


SettingsDep = Annotated[ApiSettings, Depends(_settings)]
SessionDep = Annotated[Session, Depends(_session)]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="reelcart"'}


def _principal(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Problem(
            401,
            "missing Authorization header; send 'Authorization: Bearer <api key>'",
            slug="missing-api-key",
            headers=_CHALLENGE,
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "Authorization must use the Bearer scheme with an API key",
            slug="invalid-api-key",
            headers=_CHALLENGE,
        )
    # Unknown, revoked and expired keys are 401s that say which (ApiKeyRefused).
    return authenticate(session, token.strip())


def _brand_id(principal: Annotated[Principal, Depends(_principal)]) -> uuid.UUID:
    if principal.scope is not ApiKeyScope.BRAND or principal.brand_id is None:
        raise Problem(403, "this route acts for a brand; use one of the brand's API keys")
    return principal.brand_id


def _operator(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.scope is not ApiKeyScope.OPERATOR:
        raise Problem(403, "this route is for the operator; use an operator API key")
    return principal


PrincipalDep = Annotated[Principal, Depends(_principal)]
BrandIdDep = Annotated[uuid.UUID, Depends(_brand_id)]
OperatorDep = Annotated[Principal, Depends(_operator)]


def idempotency_key_header(description: str) -> Any:
    """The `Header` of an optional `Idempotency-Key` (`Annotated[str | None, idempotency_key_header(…)]`):
    1-255 printable ASCII characters (a UUID), else a 422; `description` says what sending it again does on
    that route."""
    return Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description=description,
    )
