"""Bearer API keys: generated once, stored as SHA-256, scoped to one brand or to the operator."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlmodel import Session, select

from api.brands.models import ApiKey, ApiKeyScope

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
    session: Session, *, scope: ApiKeyScope, brand_id: uuid.UUID | None, name: str = ""
) -> IssuedKey:
    if (scope is ApiKeyScope.BRAND) != (brand_id is not None):
        raise ValueError("a brand key needs a brand; an operator key must not have one")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        brand_id=brand_id, scope=scope, name=name, prefix=secret[:10], key_hash=hash_api_key(secret)
    )
    session.add(record)
    session.flush()
    return IssuedKey(record=record, secret=secret)


def authenticate(session: Session, secret: str) -> Principal | None:
    if not secret.startswith(KEY_PREFIX):
        return None
    record = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_api_key(secret))).first()
    if record is None or record.revoked_at is not None:
        return None
    return Principal(
        key_id=record.id, key_name=record.name, scope=ApiKeyScope(record.scope), brand_id=record.brand_id
    )
