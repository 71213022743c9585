"""A brand's own settings and provider connections (Stripe Connect account, Shopify shop and tokens),
and the operator's view of API keys: list and revoke."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from api.brands.exceptions import ProviderAccountTaken, ProviderNotConnected
from api.brands.models import ApiKey, ApiKeyScope, Brand, CheckoutProviderName
from api.brands.schemas import (
    ApiKeyPublic,
    BrandMe,
    BrandProviders,
    BrandUpdate,
    LinkingSettings,
    ShopifyConnection,
    StripeConnection,
)
from api.columns import utcnow
from api.errors import InvalidInput, NotFound
from api.patching import non_null_changes
from commerce.crypto import TokenCipher

# Where a brand starts binding each provider (the provider's own authorization flow).
CONNECT_ROUTES = {
    CheckoutProviderName.STRIPE: "GET /v1/brands/me/providers/stripe/connect",
    CheckoutProviderName.SHOPIFY: "GET /v1/brands/me/providers/shopify/install?shop=…",
}


def get_brand(session: Session, brand_id: uuid.UUID) -> Brand:
    brand = session.get(Brand, brand_id)
    if brand is None:
        raise NotFound("brand")
    return brand


def stripe_connected(brand: Brand) -> bool:
    return brand.stripe_account_id is not None


def shopify_connected(brand: Brand) -> bool:
    return brand.shopify_shop_domain is not None and brand.shopify_access_token_encrypted is not None


def is_connected(brand: Brand, provider: CheckoutProviderName) -> bool:
    return stripe_connected(brand) if provider is CheckoutProviderName.STRIPE else shopify_connected(brand)


def brand_me(brand: Brand) -> BrandMe:
    """What is connected, never a token: only whether one is stored."""
    return BrandMe(
        id=brand.id,
        name=brand.name,
        slug=brand.slug,
        auto_approve_threshold=brand.auto_approve_threshold,
        link_floor=brand.link_floor,
        require_print_evidence=brand.require_print_evidence,
        own_print_auto_approve=brand.own_print_auto_approve,
        default_checkout_provider=brand.default_checkout_provider,
        catalog_synced_at=brand.catalog_synced_at,
        providers=BrandProviders(
            stripe=StripeConnection(connected=stripe_connected(brand), account_id=brand.stripe_account_id),
            shopify=ShopifyConnection(
                connected=shopify_connected(brand),
                shop_domain=brand.shopify_shop_domain,
                storefront_token=brand.shopify_storefront_token_encrypted is not None,
            ),
        ),
    )


def _account_taken(
    session: Session, brand: Brand, *, stripe_account: str | None = None, shop: str | None = None
) -> bool:
    """Whether another brand already holds this Stripe account or Shopify shop."""
    statement = select(Brand.id).where(Brand.id != brand.id)
    if stripe_account is not None:
        statement = statement.where(Brand.stripe_account_id == stripe_account)
    if shop is not None:
        statement = statement.where(Brand.shopify_shop_domain == shop)
    return session.exec(statement).first() is not None


def bind_stripe_account(session: Session, brand: Brand, account_id: str) -> Brand:
    """Store the brand's connected account: only ever one Stripe has vouched for (Connect OAuth) or
    the operator has set. Webhooks find the brand by its account id, so one account serves one brand."""
    if _account_taken(session, brand, stripe_account=account_id):
        raise ProviderAccountTaken("this Stripe account is connected to another brand")
    brand.stripe_account_id = account_id
    session.add(brand)
    session.flush()
    return brand


def bind_shopify_shop(
    session: Session,
    brand: Brand,
    shop_domain: str,
    access_token: str,
    storefront_token: str | None,
    cipher: TokenCipher,
) -> Brand:
    """Store the brand's shop and tokens (encrypted): only ever a shop whose install Shopify confirmed
    or one the operator set. Replaces the connection: no Storefront token removes a stored one."""
    if _account_taken(session, brand, shop=shop_domain):
        raise ProviderAccountTaken("this Shopify shop is connected to another brand")
    brand.shopify_shop_domain = shop_domain
    brand.shopify_access_token_encrypted = cipher.encrypt(access_token)
    brand.shopify_storefront_token_encrypted = cipher.encrypt(storefront_token) if storefront_token else None
    session.add(brand)
    session.flush()
    return brand


def threshold_and_floor(brand: Brand, body: LinkingSettings) -> tuple[float, float]:
    """The auto-approve threshold and link floor `body` sets (each kept where omitted), refused with a
    422 when the floor would exceed the threshold."""
    threshold = (
        body.auto_approve_threshold
        if body.auto_approve_threshold is not None
        else brand.auto_approve_threshold
    )
    floor = body.link_floor if body.link_floor is not None else brand.link_floor
    if floor > threshold:
        field = "link_floor" if body.link_floor is not None else "auto_approve_threshold"
        raise InvalidInput(
            f"link_floor ({floor}) must not exceed auto_approve_threshold ({threshold})",
            errors=[{"field": field, "message": "link_floor must not exceed auto_approve_threshold"}],
        )
    return threshold, floor


@dataclass(frozen=True)
class LinkingValues:
    """A brand's linking settings as an update would leave them."""

    auto_approve_threshold: float
    link_floor: float
    require_print_evidence: bool
    own_print_auto_approve: float


def linking_values_after(brand: Brand, body: LinkingSettings) -> LinkingValues:
    """The brand's linking settings with `body` applied, validated as an update would be (explicit nulls
    and a floor over the threshold refused): what a preview decides under. Nothing is changed."""
    non_null_changes(body)
    threshold, floor = threshold_and_floor(brand, body)
    return LinkingValues(
        auto_approve_threshold=threshold,
        link_floor=floor,
        require_print_evidence=(
            body.require_print_evidence
            if body.require_print_evidence is not None
            else brand.require_print_evidence
        ),
        own_print_auto_approve=(
            body.own_print_auto_approve
            if body.own_print_auto_approve is not None
            else brand.own_print_auto_approve
        ),
    )


def update_brand(session: Session, brand: Brand, body: BrandUpdate) -> Brand:
    non_null_changes(body)  # refuses explicit nulls; each field below has its own rule
    if body.default_checkout_provider is not None:
        provider = body.default_checkout_provider
        if not is_connected(brand, provider):
            raise ProviderNotConnected(
                f"connect {provider.value} first ({CONNECT_ROUTES[provider]})",
                errors=[
                    {"field": "default_checkout_provider", "message": f"{provider.value} is not connected"}
                ],
            )
        brand.default_checkout_provider = provider
    brand.auto_approve_threshold, brand.link_floor = threshold_and_floor(brand, body)
    if body.require_print_evidence is not None:
        brand.require_print_evidence = body.require_print_evidence
    if body.own_print_auto_approve is not None:
        brand.own_print_auto_approve = body.own_print_auto_approve
    session.add(brand)
    session.flush()
    return brand


def find_brand_by_shop(session: Session, shop_domain: str) -> Brand | None:
    return session.exec(select(Brand).where(Brand.shopify_shop_domain == shop_domain.lower())).first()


def find_brand_by_stripe_account(session: Session, account_id: str) -> Brand | None:
    return session.exec(select(Brand).where(Brand.stripe_account_id == account_id)).first()


def list_api_keys(session: Session, *, brand_id: uuid.UUID | None = None) -> list[ApiKeyPublic]:
    """Every key (or one brand's), newest first, revoked ones included and marked; never a secret."""
    statement = (
        select(ApiKey, Brand.slug)
        .join(Brand, col(ApiKey.brand_id) == col(Brand.id), isouter=True)
        .order_by(col(ApiKey.created_at).desc(), col(ApiKey.id))
    )
    if brand_id is not None:
        statement = statement.where(ApiKey.brand_id == brand_id)
    return [api_key_public(key, slug) for key, slug in session.exec(statement).all()]


def revoke_api_key(session: Session, key_id: uuid.UUID) -> ApiKeyPublic:
    """Revoke a key at once (authentication reads the row on every request). Revoking a revoked key
    changes nothing: it keeps the time it was first revoked."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("API key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
    brand = session.get(Brand, key.brand_id) if key.brand_id is not None else None
    return api_key_public(key, brand.slug if brand is not None else None)


def revoke_live_keys(
    session: Session, *, scope: ApiKeyScope, brand_id: uuid.UUID | None, name: str
) -> list[uuid.UUID]:
    """Revoke every live key of this scope, brand and name (a rotation's first half); their ids."""
    statement = select(ApiKey).where(
        ApiKey.scope == scope, ApiKey.name == name, col(ApiKey.revoked_at).is_(None)
    )
    statement = statement.where(
        col(ApiKey.brand_id).is_(None) if brand_id is None else ApiKey.brand_id == brand_id
    )
    now = utcnow()
    revoked = []
    for key in session.exec(statement).all():
        key.revoked_at = now
        session.add(key)
        revoked.append(key.id)
    session.flush()
    return revoked


def api_key_public(key: ApiKey, brand_slug: str | None) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=key.id,
        name=key.name,
        scope=ApiKeyScope(key.scope),
        brand_id=key.brand_id,
        brand_slug=brand_slug,
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        expires_at=key.expires_at,
    )
