"""Bearer API keys: generated once, stored as SHA-256, scoped to one brand or to the operator."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from api.brands.models import ApiKey, ApiKeyScope
from api.columns import utcnow
from api.errors import ApiKeyRefused

KEY_PREFIX = "rc_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a brand's key, or the operator's."""

    key_id: uuid.UUID
    key_name: str
    scope: ApiKeyScope
    brand_id: uuid.UUID | None

    @property
    def actor(self) -> str:
        return f"key:{self.key_name or self.key_id}"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    record: ApiKey
    secret: str  # shown to the user once, never stored


def hash_api_key(secret: str) -> str:
    # Keys are 256-bit random strings, so a fast hash is enough: no dictionary to attack.
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(
    session: Session,
    *,
    scope: ApiKeyScope,
    brand_id: uuid.UUID | None,
    name: str = "",
    expires_in: timedelta | None = None,
) -> IssuedKey:
    """A new key; with `expires_in`, it stops working that long from now (401 `expired-api-key`)."""
    if (scope is ApiKeyScope.BRAND) != (brand_id is not None):
        raise ValueError("a brand key needs a brand; an operator key must not have one")
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValueError("a key's lifetime must be positive")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        brand_id=brand_id,
        scope=scope,
        name=name,
        prefix=secret[:10],
        key_hash=hash_api_key(secret),
        expires_at=utcnow() + expires_in if expires_in is not None else None,
    )
    session.add(record)
    session.flush()
    return IssuedKey(record=record, secret=secret)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def authenticate(session: Session, secret: str, *, now: datetime | None = None) -> Principal:
    """The caller behind a bearer key, read from the database on every request, so a revocation or an
    expiry takes effect on the very next request. Raises `ApiKeyRefused` saying why a key is refused."""
    record = (
        session.exec(select(ApiKey).where(ApiKey.key_hash == hash_api_key(secret))).first()
        if secret.startswith(KEY_PREFIX)
        else None
    )
    if record is None:
        raise ApiKeyRefused("API key is not valid", slug="invalid-api-key")
    if record.revoked_at is not None:
        raise ApiKeyRefused(
            f"API key {record.prefix}… was revoked at {_when(record.revoked_at)}", slug="revoked-api-key"
        )
    if record.expires_at is not None and record.expires_at <= (now or utcnow()):
        raise ApiKeyRefused(
            f"API key {record.prefix}… expired at {_when(record.expires_at)}; ask the operator for a new one",
            slug="expired-api-key",
        )
    return Principal(
        key_id=record.id, key_name=record.name, scope=ApiKeyScope(record.scope), brand_id=record.brand_id
    )
