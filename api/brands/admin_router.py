"""Operator routes: brands and their API keys (create, list, revoke)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from api.auth import issue_api_key
from api.brands.models import ApiKeyScope, Brand
from api.brands.schemas import ApiKeyPublic
from api.brands.service import get_brand, list_api_keys, revoke_api_key
from api.deps import OperatorDep, SessionDep
from api.errors import NotFound
from api.problems import Problem
from api.types import Text

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class BrandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text = Field(min_length=1, max_length=200)
    slug: str = Field(min_length=2, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")
    auto_approve_threshold: float = Field(default=0.8, ge=0.0, le=1.0)


class BrandPublic(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    auto_approve_threshold: float
    created_at: datetime


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(default="", max_length=200)
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="The key stops working this many days from now; omit: never"
    )


class KeyIssued(BaseModel):
    id: uuid.UUID
    brand_id: uuid.UUID
    name: str
    key: str = Field(description="Shown once; only its hash is stored")
    expires_at: datetime | None = Field(description="When the key stops working; None: never")


@router.post("/brands", status_code=status.HTTP_201_CREATED, response_model=BrandPublic)
def create_brand(body: BrandCreate, _operator: OperatorDep, session: SessionDep) -> BrandPublic:
    if session.exec(select(Brand).where(Brand.slug == body.slug)).first() is not None:
        raise Problem(409, f"a brand with slug {body.slug!r} exists", slug="duplicate-brand")
    brand = Brand(name=body.name, slug=body.slug, auto_approve_threshold=body.auto_approve_threshold)
    session.add(brand)
    session.commit()
    return BrandPublic.model_validate(brand, from_attributes=True)


@router.get("/brands", response_model=list[BrandPublic])
def list_brands(_operator: OperatorDep, session: SessionDep) -> list[BrandPublic]:
    brands = session.exec(select(Brand).order_by(col(Brand.name))).all()
    return [BrandPublic.model_validate(brand, from_attributes=True) for brand in brands]


@router.post("/brands/{brand_id}/keys", status_code=status.HTTP_201_CREATED, response_model=KeyIssued)
def create_key(
    brand_id: uuid.UUID, body: KeyCreate, _operator: OperatorDep, session: SessionDep
) -> KeyIssued:
    if session.get(Brand, brand_id) is None:
        raise NotFound("brand")
    lifetime = timedelta(days=body.expires_in_days) if body.expires_in_days is not None else None
    issued = issue_api_key(
        session, scope=ApiKeyScope.BRAND, brand_id=brand_id, name=body.name, expires_in=lifetime
    )
    session.commit()
    return KeyIssued(
        id=issued.record.id,
        brand_id=brand_id,
        name=body.name,
        key=issued.secret,
        expires_at=issued.record.expires_at,
    )


@router.get("/keys", response_model=list[ApiKeyPublic], summary="API keys, newest first (never a secret)")
def list_keys(
    _operator: OperatorDep,
    session: SessionDep,
    brand_id: Annotated[uuid.UUID | None, Query(description="Only this brand's keys")] = None,
) -> list[ApiKeyPublic]:
    if brand_id is not None:
        get_brand(session, brand_id)  # an unknown brand is a 404, not an empty list
    return list_api_keys(session, brand_id=brand_id)


@router.post(
    "/keys/{key_id}/revoke",
    response_model=ApiKeyPublic,
    summary="Revoke a key: its next request gets 401 (revoking twice keeps the first time)",
)
def revoke_key(key_id: uuid.UUID, _operator: OperatorDep, session: SessionDep) -> ApiKeyPublic:
    revoked = revoke_api_key(session, key_id)
    session.commit()
    return revoked
