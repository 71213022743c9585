"""The calling brand's own settings and provider connections (brand key)."""

from __future__ import annotations

from fastapi import APIRouter

from api.brands import service as brands
from api.brands.schemas import BrandMe, BrandUpdate, ShopifyConnect, StripeConnect
from api.checkout.dependencies import CommerceDep
from api.commerce_config import token_cipher
from api.deps import BrandIdDep, SessionDep

router = APIRouter(prefix="/v1/brands/me", tags=["brands"])


@router.get("", response_model=BrandMe)
def get_me(brand_id: BrandIdDep, session: SessionDep) -> BrandMe:
    return brands.brand_me(brands.get_brand(session, brand_id))


@router.patch("", response_model=BrandMe)
def patch_me(body: BrandUpdate, brand_id: BrandIdDep, session: SessionDep) -> BrandMe:
    brand = brands.update_brand(session, brands.get_brand(session, brand_id), body)
    session.commit()
    return brands.brand_me(brand)


@router.put("/providers/stripe", response_model=BrandMe)
def connect_stripe(body: StripeConnect, brand_id: BrandIdDep, session: SessionDep) -> BrandMe:
    brand = brands.connect_stripe(session, brands.get_brand(session, brand_id), body)
    session.commit()
    return brands.brand_me(brand)


@router.put("/providers/shopify", response_model=BrandMe)
def connect_shopify(
    body: ShopifyConnect, brand_id: BrandIdDep, session: SessionDep, commerce: CommerceDep
) -> BrandMe:
    brand = brands.connect_shopify(session, brands.get_brand(session, brand_id), body, token_cipher(commerce))
    session.commit()
    return brands.brand_me(brand)
