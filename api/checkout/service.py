"""Checkout from a hotspot tap: prices from our catalog, one CheckoutSession row per tap (click id).

A tap's click id derives the provider idempotency key (see `CheckoutRequest.idempotency_key`), so the
same click sent twice, a double tap racing itself, or a retry after a timeout all reach the one
provider session Stripe already made; nothing can be charged twice. The row is written only after the
provider answered, so a failed call leaves nothing behind and a retry starts clean.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address, ip_network

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, select

from api.analytics.counting import count_events
from api.analytics.models import Event, checkout_failed_type
from api.brands.exceptions import ProviderNotConnected
from api.brands.models import Brand, CheckoutProviderName
from api.brands.service import is_connected
from api.catalog.models import Product, Variant
from api.checkout.exceptions import (
    CheckoutClosed,
    ClickIdReused,
    PlacementNotShoppable,
    VariantNotInPlacement,
    VariantNotSynced,
    VariantUnavailable,
)
from api.checkout.models import CheckoutSession, CheckoutStatus
from api.checkout.schemas import CheckoutCreate, CheckoutCreated
from api.columns import MAX_MONEY
from api.commerce_config import token_cipher
from api.episodes.service import key_share_episode
from api.errors import ApiError, InvalidInput, NotFound
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from commerce.checkout import (
    Attribution,
    CheckoutLine,
    CheckoutProvider,
    CheckoutRequest,
    CheckoutResult,
    CheckoutUi,
)
from commerce.exceptions import CommerceError, ProviderError, ProviderTimeout, TokenCryptoError
from commerce.money import Money
from commerce.providers.shopify import ShopifyCheckoutProvider
from commerce.providers.stripe import StripeCheckoutProvider
from commerce.settings import CommerceSettings

log = logging.getLogger("reelcart.checkout")


def shopper_ip(peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[str]) -> str | None:
    """The shopper's address: the peer, unless the peer is a trusted proxy; then the right-most
    X-Forwarded-For address that is not a trusted proxy.

    Right-most, because a client can write anything at the left of the header; only the hops our own
    proxies appended are believable. `forwarded_for` is every X-Forwarded-For header value, in order.
    """
    networks = [ip_network(proxy, strict=False) for proxy in trusted_proxies]

    def trusted(address: str) -> bool:
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in networks)

    if peer is None or not trusted(peer):
        return peer
    nearest = peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ip_address(hop)
        except ValueError:
            return nearest  # garbage (or a forged token) ends the chain we can believe
        if not trusted(hop):
            return hop
        nearest = hop
    return nearest


@dataclass(frozen=True, slots=True)
class StartedCheckout:
    created: CheckoutCreated
    replayed: bool  # the click id was seen before: same row, same provider session


@dataclass(frozen=True, slots=True)
class _Sale:
    placement: Placement
    variant: Variant
    product: Product
    brand: Brand


def default_return_url(settings: ApiSettings) -> str:
    return (
        settings.checkout_return_url
        or f"{settings.public_base_url}/checkout/return?session_id={{CHECKOUT_SESSION_ID}}"
    )


def start_checkout(
    session: Session,
    body: CheckoutCreate,
    settings: ApiSettings,
    commerce: CommerceSettings,
    *,
    buyer_ip: str | None,
) -> StartedCheckout:
    """Validate the tap against the catalog, call the provider, record the session (flushed, not committed).

    Raises the checkout's `ApiError` kinds for bad input and lets `ProviderError` / `ProviderTimeout`
    through (`api/problems.py` answers them with a 502). Before it does, the failure is recorded and
    committed (see `record_checkout_failure`): the brand's analytics count what failed, and why.
    """
    try:
        return _start_checkout(session, body, settings, commerce, buyer_ip=buyer_ip)
    except (ApiError, CommerceError) as error:
        record_checkout_failure(session, body, failure_reason(error))
        raise


def failure_reason(error: ApiError | CommerceError) -> str:
    """The problem type the answer will carry (`variant-unavailable`, `provider-timeout`, …)."""
    if isinstance(error, ApiError):
        return error.slug
    if isinstance(error, ProviderTimeout):
        return "provider-timeout"
    if isinstance(error, ProviderError):
        return "provider-error"
    if isinstance(error, TokenCryptoError):
        return "stored-token-unreadable"
    return "commerce-error"


def record_checkout_failure(session: Session, body: CheckoutCreate, reason: str) -> None:
    """Store a `checkout_failed:<reason>` event for the tap's placement, in its own commit.

    The request's own work is rolled back first (nothing half-done is kept), and the event is committed
    here because the error that follows ends the request without a commit. A tap naming no placement
    of ours is nobody's funnel and is not recorded; a failure to record never hides the tap's error.
    """
    try:
        session.rollback()
        placement = session.get(Placement, body.placement_id)
        if placement is None:
            return
        failure = Event(
            type=checkout_failed_type(reason),
            brand_id=placement.brand_id,
            episode_id=placement.episode_id,
            placement_id=placement.id,
            click_id=body.click_id,
        )
        session.add(failure)
        session.flush()
        count_events(session, [failure])
        session.commit()
    except SQLAlchemyError:
        log.exception("could not record a failed checkout for placement %s", body.placement_id)
        session.rollback()


def _start_checkout(
    session: Session,
    body: CheckoutCreate,
    settings: ApiSettings,
    commerce: CommerceSettings,
    *,
    buyer_ip: str | None,
) -> StartedCheckout:
    sale = _load_sale(session, body)
    provider_name = body.provider or sale.brand.default_checkout_provider
    if not is_connected(sale.brand, provider_name):
        raise ProviderNotConnected(
            f"this brand does not sell through {provider_name.value}: it has not connected a "
            f"{'Stripe account' if provider_name is CheckoutProviderName.STRIPE else 'Shopify shop'}",
            errors=[{"field": "provider", "message": f"{provider_name.value} is not connected"}],
        )
    click_id = body.click_id or uuid.uuid4().hex
    existing = _find(session, provider_name, click_id)
    unit_price = _unit_price(sale.variant)
    if existing is not None:
        unit_price = _replay_unit_price(existing, sale, body.quantity)
    _check_total(unit_price, body.quantity)
    ui = _ui_for(provider_name, settings)
    request = CheckoutRequest(
        lines=(_line(sale, provider_name, unit_price, body.quantity),),
        attribution=Attribution(
            click_id=click_id, placement_id=str(sale.placement.id), episode_id=str(sale.placement.episode_id)
        ),
        return_url=default_return_url(settings),
        ui=ui,
        buyer_ip=buyer_ip,
    )
    provider = _provider(sale, provider_name, commerce)
    connection = _connection_of(sale.brand, provider_name)
    account = sale.brand.stripe_account_id
    seen_before = existing is not None
    # Nothing is written yet: the transaction ends here, so its row locks and its database connection are
    # not held through the provider's call (seconds, up to its timeout). A product's or an episode's
    # deletion meanwhile goes ahead, and the players' events and timelines keep their connections.
    session.rollback()
    result = provider.create_checkout(request)
    # Locked and checked again, as the rows stand now: a deletion, a sell-out or a withdrawn approval
    # that came during the call refuses the checkout (the provider's session then expires unused).
    sale = _load_sale(session, body)
    if _connection_of(sale.brand, provider_name) != connection:
        # Disconnected, or connected to another account or shop, during the call: the session just
        # opened belongs to the old one, which no longer reports this brand's sales.
        raise ProviderNotConnected(
            f"this brand's {provider_name.value} connection changed while the checkout was being opened; "
            "tap Buy again",
            errors=[{"field": "provider", "message": f"{provider_name.value} connection changed"}],
        )
    existing = _find(session, provider_name, click_id)
    if existing is not None and not seen_before:
        # The same click recorded by another request during the call: answered with that row, as a raced
        # insert is below, once it is shown to be the same tap (its provider session is left as stored).
        _replay_unit_price(existing, sale, body.quantity)
        return StartedCheckout(_created(existing, result, settings, account), replayed=True)
    if existing is not None:
        return StartedCheckout(_record_replay(session, existing, result, settings, account), replayed=True)
    row = CheckoutSession(
        brand_id=sale.brand.id,
        click_id=click_id,
        placement_id=sale.placement.id,
        episode_id=sale.placement.episode_id,
        variant_id=sale.variant.id,
        quantity=body.quantity,
        provider=provider_name,
        provider_session_id=result.provider_session_id,
        status=CheckoutStatus.OPEN,
        amount=request.total.amount,
        currency=request.currency,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # The same tap raced itself and the other request recorded first. Both used one idempotency
        # key, so they hold the same provider session: answer with the row that won.
        session.rollback()
        winner = _find(session, provider_name, click_id)
        if winner is None:
            raise
        return StartedCheckout(_created(winner, result, settings, account), replayed=True)
    return StartedCheckout(_created(row, result, settings, account), replayed=False)


def _connection_of(brand: Brand, provider: CheckoutProviderName) -> str | None:
    """Which account or shop the brand sells through with `provider` now (None: not connected)."""
    if not is_connected(brand, provider):
        return None
    return brand.stripe_account_id if provider is CheckoutProviderName.STRIPE else brand.shopify_shop_domain


def _load_sale(session: Session, body: CheckoutCreate) -> _Sale:
    placement = session.get(Placement, body.placement_id)
    if placement is None:
        raise NotFound("placement")
    if placement.status != PlacementStatus.APPROVED or placement.chosen_product_id is None:
        raise PlacementNotShoppable(
            "this placement is not approved for sale (only approved placements showing a product sell)"
        )
    # Key-share locked: a product deletion that started first is waited for (then the variant is gone),
    # and one that starts later waits for this checkout and then refuses to delete what was sold. Taken
    # before the provider's call and again after it, never held through it (`_start_checkout`).
    variant = session.exec(
        select(Variant).where(Variant.id == body.variant_id).with_for_update(read=True, key_share=True)
    ).first()
    if variant is None or variant.brand_id != placement.brand_id:
        # Another brand's variant answers like a missing one.
        raise NotFound("variant")
    if variant.product_id != placement.chosen_product_id:
        raise VariantNotInPlacement(
            "this variant is not a variant of the product the placement shows",
            errors=[{"field": "variant_id", "message": "not shown by this placement"}],
        )
    if not variant.available:
        raise VariantUnavailable("this variant is sold out")
    if not _key_share(session, placement):
        raise NotFound("placement")
    product = session.get(Product, variant.product_id)
    brand = session.get(Brand, placement.brand_id)
    if product is None or brand is None:
        raise NotFound("variant")
    return _Sale(placement=placement, variant=variant, product=product, brand=brand)


def _key_share(session: Session, placement: Placement) -> bool:
    """Key-share the placement and its episode, which the checkout will refer to, after the variant: the
    order a product's deletion (variants, placements, timelines) and an episode's (placements, episode)
    take them in, so none waits on another in a cycle. A deletion under way is waited for, and then
    they are gone (False); one that starts later sees this checkout and keeps them."""
    still = session.exec(
        select(Placement.id).where(Placement.id == placement.id).with_for_update(read=True, key_share=True)
    ).first()
    return still is not None and key_share_episode(session, placement.episode_id)


def _find(session: Session, provider: CheckoutProviderName, click_id: str) -> CheckoutSession | None:
    return session.exec(
        select(CheckoutSession).where(
            CheckoutSession.provider == provider.value, CheckoutSession.click_id == click_id
        )
    ).first()


def _unit_price(variant: Variant) -> Money:
    return Money(variant.price.normalize(), variant.currency)


def _replay_unit_price(existing: CheckoutSession, sale: _Sale, quantity: int) -> Money:
    """A repeated click must send exactly what the first did (Stripe refuses a reused idempotency key
    with other parameters), so the price comes from the stored row even if the catalog changed since."""
    same_tap = (existing.placement_id, existing.variant_id, existing.quantity) == (
        sale.placement.id,
        sale.variant.id,
        quantity,
    )
    if not same_tap:
        raise ClickIdReused(
            "this click_id already started a checkout for another placement, variant or quantity",
            errors=[{"field": "click_id", "message": "already used for a different checkout"}],
        )
    if existing.status != CheckoutStatus.OPEN:
        raise CheckoutClosed(
            f"the checkout for this click_id is {existing.status.replace('_', ' ')}; "
            "a new tap needs a new click_id"
        )
    return Money((existing.amount / existing.quantity).normalize(), existing.currency)


def _check_total(unit_price: Money, quantity: int) -> None:
    """A total the money columns cannot hold is refused before any provider call: otherwise the
    provider session exists and only storing the row fails (on PostgreSQL, a numeric overflow)."""
    total = unit_price.amount * quantity
    if total > MAX_MONEY:
        raise InvalidInput(
            f"the total {total} {unit_price.currency} is more than a checkout can hold ({MAX_MONEY}); "
            "buy fewer at once",
            errors=[{"field": "quantity", "message": f"the total may be at most {MAX_MONEY}"}],
        )


def _ui_for(provider: CheckoutProviderName, settings: ApiSettings) -> CheckoutUi:
    # Stripe's embedded page needs Stripe.js and a publishable key in the overlay. Without a key the
    # hosted page is the only thing the overlay can open. One session either way: a hosted fallback
    # next to an embedded one would be a second Stripe session (and key) for every tap.
    if provider is CheckoutProviderName.STRIPE and settings.stripe_publishable_key:
        return CheckoutUi.EMBEDDED
    return CheckoutUi.HOSTED


def _line(sale: _Sale, provider: CheckoutProviderName, unit_price: Money, quantity: int) -> CheckoutLine:
    variant, product = sale.variant, sale.product
    title = product.title if variant.title in ("", "Default") else f"{product.title} - {variant.title}"
    if provider is CheckoutProviderName.SHOPIFY:
        if variant.shopify_variant_gid is None:
            raise VariantNotSynced(
                "this variant is not in the brand's Shopify catalog; "
                "sync it first (POST /v1/catalog/sync/shopify)"
            )
        return CheckoutLine(variant.shopify_variant_gid, title[:250], unit_price, quantity)
    return CheckoutLine(
        variant_ref=variant.stripe_price_id or f"reelcart-variant-{variant.id}",
        title=title[:250],
        unit_price=unit_price,
        quantity=quantity,
        product_ref=product.stripe_product_id,
    )


def _provider(sale: _Sale, provider: CheckoutProviderName, commerce: CommerceSettings) -> CheckoutProvider:
    brand = sale.brand
    if provider is CheckoutProviderName.STRIPE:
        return StripeCheckoutProvider.from_settings(commerce, account_id=brand.stripe_account_id)
    assert brand.shopify_shop_domain is not None
    storefront_token = (
        commerce.shopify_storefront_token.get_secret_value() if commerce.shopify_storefront_token else None
    )
    if brand.shopify_storefront_token_encrypted:
        storefront_token = token_cipher(commerce).decrypt(brand.shopify_storefront_token_encrypted)
    return ShopifyCheckoutProvider(
        commerce, shop_domain=brand.shopify_shop_domain, storefront_token=storefront_token
    )


def _record_replay(
    session: Session,
    existing: CheckoutSession,
    result: CheckoutResult,
    settings: ApiSettings,
    stripe_account: str | None,
) -> CheckoutCreated:
    # Stripe replays the same session. A Shopify cart has no idempotency key, so the repeat may be a
    # new cart: it charges nothing and carries the same click id, which is what attribution uses.
    if existing.provider_session_id != result.provider_session_id:
        existing.provider_session_id = result.provider_session_id
        session.add(existing)
        session.flush()
    return _created(existing, result, settings, stripe_account)


def _created(
    row: CheckoutSession, result: CheckoutResult, settings: ApiSettings, stripe_account: str | None
) -> CheckoutCreated:
    embedded = result.ui is CheckoutUi.EMBEDDED
    return CheckoutCreated(
        checkout_session_id=row.id,
        provider=row.provider,
        client_secret=result.client_secret,
        publishable_key=settings.stripe_publishable_key if embedded else None,
        # Direct charges live on the connected account: Stripe.js must be started with its id.
        stripe_account=stripe_account if embedded and row.provider == "stripe" else None,
        url=result.redirect_url,
    )
