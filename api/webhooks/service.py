"""Verified provider events into the database: deduplicated first, then routed to one handler per type.

Order of work per delivery, all in one transaction (the router commits once):
1. insert `ProcessedWebhook(provider, event_id)`; the unique constraint turns a redelivery, or the
   same event arriving twice at once, into "duplicate" (on PostgreSQL the second insert waits for the
   first transaction and then fails), so a handler never sees an event twice;
2. dispatch through `WebhookDispatcher`; unknown event types are acknowledged and ignored;
3. record the handler's outcome on the same row.
Orders are also keyed by the provider's order (Stripe session, Shopify order GID) under a row lock,
so two different events about one purchase still count it once. Refunds set an order's refunded total
from the provider's running total (never add one refund's amount), so they too count once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.brands.models import Brand, CheckoutProviderName
from api.brands.service import find_brand_by_shop, find_brand_by_stripe_account, shopify_connected
from api.catalog.sync import SqlCatalogStore, rebuild_affected_timelines
from api.checkout.models import CheckoutSession, CheckoutStatus, Order, OrderStatus
from api.columns import MAX_MONEY
from api.commerce_config import token_cipher
from api.linking.link_jobs import PendingLinkJob, relink_after_sync
from api.review.models import Placement
from api.settings import ApiSettings
from api.webhooks import compliance
from api.webhooks.held_refunds import (
    HOLD_FOR,
    held_refund,
    hold_refund,
    lock_payment,
    reset_held_refund,
    take_held_refund,
)
from api.webhooks.models import ProcessedWebhook
from api.webhooks.schemas import WebhookReceipt
from commerce.catalog import CatalogFailure, CatalogItem
from commerce.events import (
    ShopifyAppUninstalled,
    ShopifyCustomerDataRequest,
    ShopifyCustomerRedact,
    ShopifyOrderCancelled,
    ShopifyOrderCreated,
    ShopifyOrderEvent,
    ShopifyOrderPaid,
    ShopifyProductChanged,
    ShopifyProductTopic,
    ShopifyRefundCreated,
    ShopifyShopRedact,
    StripeAccountDeauthorized,
    StripeChargeRefunded,
    StripeCheckoutEvent,
    StripeCheckoutOutcome,
    StripeRefundFailed,
    WebhookEvent,
)
from commerce.exceptions import CatalogError, ProviderError
from commerce.money import Money
from commerce.providers.shopify import OrderRefunds, ShopifyCatalogSource, ShopifyOrders
from commerce.providers.stripe import ChargeRefunds, StripeCharges, charges_live
from commerce.settings import CommerceSettings
from commerce.sync import UpsertOutcome
from commerce.webhooks import SHOPIFY_PAID_STATUSES, WebhookDispatcher


def _unpaid_status(financial_status: str | None) -> OrderStatus:
    """Shopify's financial status of an order that is not paid (yet); one Shopify adds later reads as
    pending."""
    try:
        return OrderStatus(financial_status or OrderStatus.PENDING)
    except ValueError:
        return OrderStatus.PENDING


def _not_a_sale(event: ShopifyOrderEvent) -> str:
    """Why a test order is not recorded. Placed through a test gateway (or a payment provider in test
    mode), it moved no money, so it is no sale for analytics; the delivery is still acknowledged, so
    Shopify does not retry it."""
    return f"ignored: order {event.order_name} is a Shopify test order, not a sale"


_STRIPE_STATUS = {
    StripeCheckoutOutcome.COMPLETED: CheckoutStatus.AWAITING_PAYMENT,  # completed but not paid yet
    StripeCheckoutOutcome.ASYNC_PAYMENT_FAILED: CheckoutStatus.PAYMENT_FAILED,
    StripeCheckoutOutcome.EXPIRED: CheckoutStatus.EXPIRED,
}
_OUTCOME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """What a handler did: the sentence the receipt carries (and the log shows), the brand it changed,
    and whether that brand's catalog gained or changed products (whose images then need indexing)."""

    message: str
    brand_id: uuid.UUID | None = None
    catalog_changed: bool = False
    # The re-link of the placements the linker decided that the change decides, stored with it (published by
    # the route after the commit).
    relink: PendingLinkJob | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    receipt: WebhookReceipt
    outcome: WebhookOutcome


def receive(
    session: Session, event: WebhookEvent, settings: ApiSettings, commerce: CommerceSettings
) -> Delivery:
    """Dedupe, dispatch and record one verified event. Flushes only; the caller commits.

    `ProviderError` (a product re-fetch failed) propagates: the caller rolls back, answers non-2xx,
    and the provider's redelivery finds no ProcessedWebhook row and tries again.
    """
    # A product re-fetch or an order's refunds are a network call: made before the first write, so no
    # lock (SQLite's is the whole database) is held while Shopify answers.
    prefetched = _prefetch_product(session, event, commerce)
    refunds = _prefetch_refunds(session, event, commerce)
    charge = _prefetch_charge(session, event, commerce)
    record = ProcessedWebhook(
        provider=event.provider, event_id=event.event_id, event_type=event.event_type[:100]
    )
    session.add(record)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        duplicate = WebhookOutcome("duplicate delivery: already processed, nothing changed")
        receipt = WebhookReceipt(
            event_id=event.event_id,
            event_type=event.event_type,
            duplicate=True,
            handled=False,
            outcome=duplicate.message,
        )
        return Delivery(receipt, duplicate)
    result = (
        WebhookHandlers(session, settings, commerce, prefetched, refunds, charge).dispatcher().dispatch(event)
    )
    outcome = (
        result.outcome
        if result.handled and result.outcome is not None
        else WebhookOutcome("ignored: event type not used by ReelCart")
    )
    record.outcome = outcome.message[:_OUTCOME_LENGTH]
    session.add(record)
    session.flush()
    receipt = WebhookReceipt(
        event_id=event.event_id,
        event_type=event.event_type,
        duplicate=False,
        handled=result.handled,
        outcome=outcome.message,
    )
    return Delivery(receipt, outcome)


@dataclass(frozen=True, slots=True)
class PrefetchedProduct:
    product_id: str
    item: CatalogItem | None  # None: the product no longer exists at Shopify


def _connected_shop_of_a_new_delivery(
    session: Session, event: ShopifyProductChanged | ShopifyRefundCreated | ShopifyOrderEvent
) -> Brand | None:
    """The brand whose connected shop sent `event`, when the event was not processed before: only
    then is a call to Shopify worth making ahead of the handler."""
    if _processed(session, event):
        return None
    brand = find_brand_by_shop(session, event.shop_domain)
    if brand is None or not shopify_connected(brand):
        return None
    return brand


def _prefetch_product(
    session: Session, event: WebhookEvent, commerce: CommerceSettings
) -> PrefetchedProduct | None:
    if not isinstance(event, ShopifyProductChanged) or event.topic is ShopifyProductTopic.DELETE:
        return None
    brand = _connected_shop_of_a_new_delivery(session, event)
    if brand is None:
        return None
    return PrefetchedProduct(
        event.product_id, _shopify_source(brand, commerce).fetch_product(event.product_id)
    )


def _prefetch_refunds(
    session: Session, event: WebhookEvent, commerce: CommerceSettings
) -> OrderRefunds | None:
    """The order's refunded total, asked of Shopify only for an order ReelCart recorded (a shop's
    refunds are mostly of orders no tap led to, and those need no call), or, for an order event, when
    a refund of the order not recorded yet is held (api.webhooks.held_refunds)."""
    if not isinstance(event, ShopifyRefundCreated | ShopifyOrderEvent):
        return None
    brand = _connected_shop_of_a_new_delivery(session, event)
    if brand is None:
        return None
    recorded = _order_row(session, CheckoutProviderName.SHOPIFY, brand.id, event.order_id) is not None
    if isinstance(event, ShopifyRefundCreated) and not recorded:
        return None
    if isinstance(event, ShopifyOrderEvent) and (
        # An order that will not be recorded (no ReelCart attribution, a test) needs no call either.
        recorded
        or event.test
        or event.attribution is None
        or held_refund(session, CheckoutProviderName.SHOPIFY, event.order_id) is None
    ):
        return None
    return ShopifyOrders.from_settings(commerce, **_shop_credentials(brand, commerce)).fetch_refunds(
        event.order_id
    )


def _prefetch_charge(
    session: Session, event: WebhookEvent, commerce: CommerceSettings
) -> ChargeRefunds | None:
    """After a failed refund, the charge's refunded total as it stands, read from Stripe before the
    first write; only for a new delivery about an order ReelCart recorded, in the platform's mode, from
    the brand's own account, or about a refund held for its order, from the account that reported it
    (anything else the handler ignores without a call)."""
    if not isinstance(event, StripeRefundFailed) or event.payment_intent_id is None:
        return None
    if event.livemode != charges_live(commerce) or _processed(session, event):
        return None
    order = _stripe_order(session, event.payment_intent_id)
    if order is None:
        # A refund of an order not recorded yet may be held: the account that reported it is asked.
        held = held_refund(session, CheckoutProviderName.STRIPE, event.payment_intent_id)
        if held is None or held.reported_by != event.account_id:
            return None
        if event.account_id and not _a_brands_stripe_account(session, event.account_id):
            # No brand's order can ever take this hold (a connected account of no brand, now): no call.
            return None
    elif not _stripe_account_speaks_for(session, order.brand_id, event.account_id):
        return None
    return StripeCharges.from_settings(commerce, account_id=event.account_id).refunds_of(event.charge_id)


def _processed(session: Session, event: WebhookEvent | ShopifyOrderEvent) -> bool:
    seen = session.exec(
        select(ProcessedWebhook.id).where(
            ProcessedWebhook.provider == event.provider, ProcessedWebhook.event_id == event.event_id
        )
    ).first()
    return seen is not None


def _stripe_order(session: Session, payment_intent_id: str, *, lock: bool = False) -> Order | None:
    statement = select(Order).where(
        Order.provider == CheckoutProviderName.STRIPE, Order.provider_payment_id == payment_intent_id
    )
    return session.exec(statement.with_for_update() if lock else statement).first()


def _stripe_account_speaks_for(session: Session, brand_id: uuid.UUID, account_id: str | None) -> bool:
    """Whether a Stripe event may speak for the brand: only its own connected account reports its
    sales and refunds (a platform event names no account)."""
    if not account_id:
        return True
    brand = session.get(Brand, brand_id)
    return brand is not None and brand.stripe_account_id == account_id


def _a_brands_stripe_account(session: Session, account_id: str) -> bool:
    return session.exec(select(Brand.id).where(Brand.stripe_account_id == account_id)).first() is not None


def _shop_credentials(brand: Brand, commerce: CommerceSettings) -> dict[str, str]:
    assert brand.shopify_shop_domain is not None
    assert brand.shopify_access_token_encrypted is not None
    return {
        "shop_domain": brand.shopify_shop_domain,
        "access_token": token_cipher(commerce).decrypt(brand.shopify_access_token_encrypted),
    }


def _shopify_source(brand: Brand, commerce: CommerceSettings) -> ShopifyCatalogSource:
    # Product webhook bodies are REST-shaped; the catalog is read through GraphQL, so re-fetch.
    return ShopifyCatalogSource.from_settings(commerce, **_shop_credentials(brand, commerce))


def _order_row(
    session: Session,
    provider: CheckoutProviderName,
    brand_id: uuid.UUID,
    order_id: str,
    *,
    lock: bool = False,
) -> Order | None:
    statement = select(Order).where(
        Order.provider == provider, Order.provider_order_id == order_id, Order.brand_id == brand_id
    )
    return session.exec(statement.with_for_update() if lock else statement).first()


def apply_refund(order: Order, refunded: Money, *, as_of: datetime | None = None) -> str:
    """Set the order's refunded total from the provider's running total and say what changed.

    Providers' deliveries come in any order: a total below the one stored is an older snapshot and
    changes nothing, and so does one Stripe made (`as_of`, its clock) before a failed refund whose
    charge was read (`reset_refunds`): it still counted the refund that failed. A paid order refunded in
    full becomes `refunded` (no longer a paid order); one refunded in part stays `paid` and its revenue
    is what was kept."""
    other_currency = _other_currency(order, refunded)
    if other_currency is not None:
        return other_currency
    total = min(refunded.amount, order.amount)
    stale = as_of is not None and order.refunds_reset_at is not None and as_of < order.refunds_reset_at
    if total <= order.refunded_amount or stale:
        return (
            f"order {order.id} stays {order.status}, {Money(order.refunded_amount, order.currency)} refunded"
        )
    order.refunded_amount = total
    settle_refunded(order)
    paid = Money(order.amount, order.currency)
    return f"order {order.id} is {order.status}, {Money(total, order.currency)} of {paid} refunded"


def _other_currency(order: Order, refunded: Money) -> str | None:
    """Why a refunded total in another currency than the order's changes nothing; None in its own."""
    if refunded.currency == order.currency:
        return None
    return f"ignored: refund in {refunded.currency}, but order {order.id} was recorded in {order.currency}"


def reset_refunds(order: Order, refunded: Money, failed_at: datetime | None) -> str:
    """Set the order's refunded total to the one read from the charge after a refund failed (Stripe's
    event of `failed_at`): it may be lower than the largest snapshot (the failed refund was in it), and
    it stands until a later snapshot. A failure older than one already applied changes nothing: that
    one's read came after it (two failures delivered out of order)."""
    other_currency = _other_currency(order, refunded)
    if other_currency is not None:
        return other_currency
    if failed_at is not None and order.refunds_reset_at is not None and failed_at < order.refunds_reset_at:
        return (
            f"order {order.id} stays {order.status}, {Money(order.refunded_amount, order.currency)} refunded "
            "(a later failed refund was read already)"
        )
    order.refunded_amount = min(refunded.amount, order.amount)
    order.refunds_reset_at = failed_at
    if order.status == OrderStatus.REFUNDED and order.refunded_amount < order.amount:
        order.status = OrderStatus.PAID  # what failed to go back was kept after all
    settle_refunded(order)
    paid = Money(order.amount, order.currency)
    kept = Money(order.refunded_amount, order.currency)
    return (
        f"order {order.id} is {order.status}, {kept} of {paid} refunded (a refund failed; read from the "
        "charge)"
    )


def settle_refunded(order: Order) -> None:
    """Keep the refunded total within the order's amount, and a paid order refunded in full `refunded`.

    Run whenever either changes: a refund can reach a pending order before its (retried) orders/paid,
    whose total may even be smaller than what was refunded (an edited order)."""
    order.refunded_amount = min(order.refunded_amount, order.amount)
    if order.status == OrderStatus.PAID and order.refunded_amount >= order.amount:
        order.status = OrderStatus.REFUNDED


@dataclass
class WebhookHandlers:
    session: Session
    settings: ApiSettings
    commerce: CommerceSettings
    prefetched: PrefetchedProduct | None = None
    refunds: OrderRefunds | None = None
    charge: ChargeRefunds | None = None

    def dispatcher(self) -> WebhookDispatcher[WebhookOutcome]:
        dispatcher: WebhookDispatcher[WebhookOutcome] = WebhookDispatcher()
        # Order, checkout and uninstall handlers answer a sentence; they change no catalog.
        dispatcher.on(StripeCheckoutEvent, lambda event: WebhookOutcome(self._stripe_checkout(event)))
        dispatcher.on(StripeChargeRefunded, lambda event: WebhookOutcome(self._stripe_refund(event)))
        dispatcher.on(StripeRefundFailed, lambda event: WebhookOutcome(self._stripe_refund_failed(event)))
        dispatcher.on(
            StripeAccountDeauthorized, lambda event: WebhookOutcome(self._stripe_deauthorized(event))
        )
        dispatcher.on(ShopifyOrderCreated, lambda event: WebhookOutcome(self._shopify_order(event)))
        dispatcher.on(ShopifyOrderPaid, lambda event: WebhookOutcome(self._shopify_order_paid(event)))
        dispatcher.on(
            ShopifyOrderCancelled, lambda event: WebhookOutcome(self._shopify_order_cancelled(event))
        )
        dispatcher.on(ShopifyRefundCreated, lambda event: WebhookOutcome(self._shopify_refund(event)))
        dispatcher.on(ShopifyProductChanged, self.shopify_product)
        dispatcher.on(ShopifyAppUninstalled, lambda event: WebhookOutcome(self._shopify_uninstalled(event)))
        # Shopify's mandatory compliance topics (api/webhooks/compliance.py).
        dispatcher.on(
            ShopifyCustomerDataRequest,
            lambda event: WebhookOutcome(compliance.customer_data_request(self.session, event)),
        )
        dispatcher.on(
            ShopifyCustomerRedact,
            lambda event: WebhookOutcome(compliance.redact_customer(self.session, event)),
        )
        dispatcher.on(
            ShopifyShopRedact, lambda event: WebhookOutcome(compliance.redact_shop(self.session, event))
        )
        return dispatcher

    # Stripe ----------------------------------------------------------------------------------------

    def _stripe_deauthorized(self, event: StripeAccountDeauthorized) -> str:
        brand = find_brand_by_stripe_account(self.session, event.account_id)
        if brand is None:
            return f"ignored: Stripe account {event.account_id} is not connected to a brand"
        # The brand took our access away: checkout must stop offering Stripe at once (it answers a
        # clear "not connected" 409) rather than fail at Stripe. Orders keep the account they came from.
        brand.stripe_account_id = None
        self.session.add(brand)
        self.session.flush()
        return f"Stripe account {event.account_id} disconnected from the brand"

    def _other_mode(self, livemode: bool) -> str | None:
        """Why an event of the other mode than the platform key's records nothing; None for its own."""
        live = charges_live(self.commerce)
        if livemode == live:
            return None
        # A test-mode session could carry a real tap's click id in its metadata (the session match's
        # fallback) and record a sale that took no money; a test platform takes no live events.
        return (
            f"ignored: a {'live' if livemode else 'test'}-mode event, and this platform charges "
            f"with {'live' if live else 'test'} keys"
        )

    def _stripe_checkout(self, event: StripeCheckoutEvent) -> str:
        other_mode = self._other_mode(event.livemode)
        if other_mode is not None:
            return other_mode
        row = self._stripe_session(event)
        if row is None:
            return f"ignored: no ReelCart checkout for session {event.session_id}"
        if not _stripe_account_speaks_for(self.session, row.brand_id, event.account_id):
            return f"ignored: session {event.session_id} is not from the brand's Stripe account"
        if event.paid:
            amount = event.amount_total or Money(row.amount.normalize(), row.currency)
            return self._record_order(
                row.brand_id,
                CheckoutProviderName.STRIPE,
                event.event_id,
                event.session_id,
                amount,
                row,
                payment_id=event.payment_intent_id,
            )
        status = _STRIPE_STATUS.get(event.outcome)
        if status is None or row.status == CheckoutStatus.COMPLETED:
            return f"checkout {row.id} stays {row.status}"
        row.status = status
        self.session.add(row)
        self.session.flush()
        return f"checkout {row.id} is {status}"

    def _refunded_order(self, event: StripeChargeRefunded | StripeRefundFailed) -> Order | str | None:
        """The order a Stripe refund event may change, locked; None when ReelCart recorded none for its
        payment; a sentence saying why the event changes nothing (another mode, no PaymentIntent, an
        account that is not the brand's)."""
        other_mode = self._other_mode(event.livemode)
        if other_mode is not None:
            return other_mode
        if event.payment_intent_id is None:
            return f"ignored: charge {event.charge_id} belongs to no PaymentIntent"
        lock_payment(self.session, CheckoutProviderName.STRIPE, event.payment_intent_id)
        # Locked, as checkout events lock their session: two refunds of one charge apply one at a time.
        order = _stripe_order(self.session, event.payment_intent_id, lock=True)
        if order is not None and not _stripe_account_speaks_for(
            self.session, order.brand_id, event.account_id
        ):
            return f"ignored: payment {event.payment_intent_id} is not from the brand's Stripe account"
        return order

    def _stripe_refund(self, event: StripeChargeRefunded) -> str:
        order = self._refunded_order(event)
        if isinstance(order, str):
            return order
        if order is None:
            assert event.payment_intent_id is not None  # `_refunded_order` said why otherwise
            if event.refunded.amount > MAX_MONEY:
                # More than any ReelCart order can hold (the money columns): a sale no tap led to.
                return f"ignored: no ReelCart order for payment {event.payment_intent_id}"
            # Its checkout.session.completed may still be on its way (a failed delivery Stripe retries).
            hold_refund(
                self.session,
                provider=CheckoutProviderName.STRIPE,
                payment_ref=event.payment_intent_id,
                reported_by=event.account_id,
                refunded=event.refunded,
                as_of=event.created_at,
            )
            return (
                f"held: no ReelCart order for payment {event.payment_intent_id} yet; its refunds "
                f"({event.refunded}) count if the order is recorded within {HOLD_FOR.days} days"
            )
        return self._refund(order, event.refunded, as_of=event.created_at)

    def _stripe_refund_failed(self, event: StripeRefundFailed) -> str:
        order = self._refunded_order(event)
        if isinstance(order, str):
            return order
        if order is None:
            return self._held_refund_failed(event)
        message = reset_refunds(order, self._charge_read_for(event, "its order").refunded, event.created_at)
        self.session.add(order)
        self.session.flush()
        return message

    def _held_refund_failed(self, event: StripeRefundFailed) -> str:
        """A refund failed while the refunds of its payment are held (its order not recorded yet): the
        hold takes the total read from the charge, so the order is recorded without the failed one."""
        payment = event.payment_intent_id
        assert payment is not None  # `_refunded_order` said why otherwise
        held = held_refund(self.session, CheckoutProviderName.STRIPE, payment, lock=True)
        if held is None:
            return f"ignored: no ReelCart order for payment {payment}"
        if held.reported_by != event.account_id:
            return f"ignored: the refunds held for payment {payment} were reported by another Stripe account"
        if event.account_id and not _a_brands_stripe_account(self.session, event.account_id):
            return f"ignored: no brand's Stripe account is {event.account_id}; nothing of it can be recorded"
        refunded = self._charge_read_for(event, "a refund of it").refunded
        if not reset_held_refund(self.session, held, refunded, event.created_at):
            return f"held: refunds of payment {payment} stay as held (a later failed refund was read already)"
        return (
            f"held: no ReelCart order for payment {payment} yet; its refunds now {refunded} (a refund "
            "failed; read from the charge)"
        )

    def _charge_read_for(self, event: StripeRefundFailed, recorded: str) -> ChargeRefunds:
        """The charge the prefetch read for this failure. None read means what it is about (`recorded`:
        the order, a held refund) was stored after the prefetch looked: no call to Stripe while this
        transaction holds its locks; the delivery fails, and Stripe's next one reads the charge first."""
        charge = self.charge
        if charge is None or charge.charge_id != event.charge_id:
            raise ProviderError(
                "stripe",
                f"{recorded} (payment {event.payment_intent_id}) was recorded while this delivery was "
                "read; deliver it again",
                retryable=True,
            )
        return charge

    def _refund(self, order: Order, refunded: Money, *, as_of: datetime | None = None) -> str:
        message = apply_refund(order, refunded, as_of=as_of)
        self.session.add(order)
        self.session.flush()
        return message

    def _stripe_session(self, event: StripeCheckoutEvent) -> CheckoutSession | None:
        # Locked so two events about one session (completed, then async succeeded) run one at a time.
        row = self.session.exec(
            select(CheckoutSession)
            .where(
                CheckoutSession.provider == CheckoutProviderName.STRIPE,
                CheckoutSession.provider_session_id == event.session_id,
            )
            .with_for_update()
        ).first()
        if row is None and event.attribution is not None:
            row = self.session.exec(
                select(CheckoutSession)
                .where(
                    CheckoutSession.provider == CheckoutProviderName.STRIPE,
                    CheckoutSession.click_id == event.attribution.click_id,
                )
                .with_for_update()
            ).first()
        return row

    # Shopify ---------------------------------------------------------------------------------------

    def _shopify_order(self, event: ShopifyOrderCreated | ShopifyOrderPaid) -> str:
        brand = self._shop_brand(event.shop_domain, lock=True)
        if brand is None:
            return f"ignored: shop {event.shop_domain} is not connected to a brand"
        # Paid when the signed body says so; the topic header is not signed.
        paid = (event.financial_status or "") in SHOPIFY_PAID_STATUSES
        status = OrderStatus.PAID if paid else _unpaid_status(event.financial_status)
        return self._record_shopify_order(brand, event, status)

    def _record_shopify_order(self, brand: Brand, event: ShopifyOrderEvent, status: OrderStatus) -> str:
        """Record an order we have not seen, as `status`, when its attribution names this brand's
        checkout or placement. The caller holds the brand row lock."""
        if event.test:
            return _not_a_sale(event)
        if event.attribution is None:
            return f"ignored: order {event.order_name} has no ReelCart attribution"
        row = self.session.exec(
            select(CheckoutSession).where(
                CheckoutSession.provider == CheckoutProviderName.SHOPIFY,
                CheckoutSession.click_id == event.attribution.click_id,
                CheckoutSession.brand_id == brand.id,
            )
        ).first()
        placement = self._attributed_placement(brand, event.attribution.placement_id)
        if row is None and placement is None:
            return f"ignored: order {event.order_name} names no placement of this brand"
        return self._record_order(
            brand.id,
            CheckoutProviderName.SHOPIFY,
            event.event_id,
            event.order_id,
            event.total,
            row,
            placement,
            status=status,
        )

    def _shopify_order_paid(self, event: ShopifyOrderPaid) -> str:
        """Count an order stored as pending at orders/create; create it if that delivery never came.

        The brand row lock (taken as for orders/create) serializes every order event of one shop, so
        a paid event racing its own orders/create, or a second subscription, still counts once.
        """
        if (event.financial_status or "") not in SHOPIFY_PAID_STATUSES:
            # The parser refuses such a delivery; the signed body, never the topic alone, pays.
            return f"ignored: order {event.order_name} is not paid in the signed body"
        if event.test:
            # Not even a pending test order stored before test orders were refused becomes a sale.
            return _not_a_sale(event)
        brand = self._shop_brand(event.shop_domain, lock=True)
        if brand is None:
            return f"ignored: shop {event.shop_domain} is not connected to a brand"
        order = self._shopify_order_row(brand.id, event.order_id)
        if order is None:
            return self._record_shopify_order(brand, event, OrderStatus.PAID)
        if order.status in {OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.REFUNDED}:
            # Paid already, or past paid: a late orders/paid (a retry) must not make a refunded order a sale.
            return f"order {order.id} stays {order.status}"
        # The paid total is the one the brand collected (an unpaid order can still be edited).
        order.status = OrderStatus.PAID
        order.amount = event.total.amount
        order.currency = event.total.currency
        settle_refunded(order)
        self.session.add(order)
        checkout = (
            self.session.get(CheckoutSession, order.checkout_session_id)
            if order.checkout_session_id
            else None
        )
        if checkout is not None:
            checkout.status = CheckoutStatus.COMPLETED
            self.session.add(checkout)
        self.session.flush()
        return f"order {order.id} is paid ({event.total})"

    def _shopify_order_cancelled(self, event: ShopifyOrderCancelled) -> str:
        brand = self._shop_brand(event.shop_domain, lock=True)
        if brand is None:
            return f"ignored: shop {event.shop_domain} is not connected to a brand"
        if event.cancelled_at is None:
            # The parser refuses such a delivery; the signed body, never the topic alone, cancels.
            return f"ignored: order {event.order_name} is not cancelled in the signed body"
        order = self._shopify_order_row(brand.id, event.order_id)
        if order is None:
            # Shopify does not order its topics: orders/create and orders/paid may still come, carrying
            # the order as it was then (paid, not cancelled). Recorded cancelled now, the order is
            # what they find, and it stays cancelled (final: Shopify cannot un-cancel).
            return self._record_shopify_order(brand, event, OrderStatus.CANCELLED)
        if order.status == OrderStatus.CANCELLED:
            return f"order {order.id} stays {OrderStatus.CANCELLED}"
        order.status = OrderStatus.CANCELLED
        self.session.add(order)
        self.session.flush()
        return f"order {order.id} is {OrderStatus.CANCELLED}"

    def _shopify_order_row(self, brand_id: uuid.UUID, order_id: str) -> Order | None:
        return _order_row(self.session, CheckoutProviderName.SHOPIFY, brand_id, order_id)

    def _shopify_refund(self, event: ShopifyRefundCreated) -> str:
        brand = self._shop_brand(event.shop_domain, lock=True)
        if brand is None or not shopify_connected(brand):
            # An uninstalled shop's token is gone: its orders' refunds can no longer be read.
            return f"ignored: shop {event.shop_domain} is not connected to a brand"
        order = self._shopify_order_row(brand.id, event.order_id)
        if order is None:
            # Mostly an order no tap led to; but it may be ours with its orders/create still being
            # retried: held (no call to Shopify now), its total is read if the order is recorded.
            hold_refund(
                self.session,
                provider=CheckoutProviderName.SHOPIFY,
                payment_ref=event.order_id,
                reported_by=event.shop_domain,
            )
            return (
                f"held: order {event.order_id} is not a ReelCart order (yet); its refunds count if it "
                f"is recorded within {HOLD_FOR.days} days"
            )
        refunds = self._order_refunds(brand, event.order_id)
        if refunds is None:
            # Shopify answers null for an order past the 60 days `read_orders` shows, too.
            return (
                f"ignored: order {event.order_id} no longer exists at Shopify, or is older than the "
                "60 days the read_orders scope shows (grant read_all_orders)"
            )
        return self._refund(order, refunds.refunded)

    def _order_refunds(self, brand: Brand, order_id: str) -> OrderRefunds | None:
        """The order's running refunded total: prefetched before the first write, or, when the order
        was recorded after the prefetch looked (an orders/create racing this delivery), read now under
        the brand lock."""
        if self.refunds is not None and self.refunds.order_id == order_id:
            return self.refunds
        return ShopifyOrders.from_settings(
            self.commerce, **_shop_credentials(brand, self.commerce)
        ).fetch_refunds(order_id)

    def _attributed_placement(self, brand: Brand, placement_ref: str) -> Placement | None:
        try:
            placement_id = uuid.UUID(placement_ref)
        except ValueError:
            return None
        placement = self.session.get(Placement, placement_id)
        return placement if placement is not None and placement.brand_id == brand.id else None

    def shopify_product(self, event: ShopifyProductChanged) -> WebhookOutcome:
        brand = self._shop_brand(event.shop_domain)
        if brand is None or not shopify_connected(brand):
            return WebhookOutcome(f"ignored: shop {event.shop_domain} is not connected to a brand")
        store = SqlCatalogStore(self.session, brand.id)
        if event.topic is ShopifyProductTopic.DELETE:
            message, changed = self._remove(store, event.product_id), False
        else:
            message, changed = self._refresh(store, brand, event.product_id)
        rebuild_affected_timelines(self.session, store, self.settings)
        relink = relink_after_sync(self.session, brand.id, store.relink_products, store.newly_linkable)
        # A deleted product (a retired one keeps its images) leaves the index: its re-link refreshes it,
        # or, when no placement names it, the index refresh the router queues for a changed catalog.
        deleted = bool(store.relink_products) and not changed
        changed = changed or (deleted and relink is None)
        return WebhookOutcome(message, brand.id, catalog_changed=changed, relink=relink)

    def _refresh(self, store: SqlCatalogStore, brand: Brand, product_id: str) -> tuple[str, bool]:
        """The sentence, and whether the product was created or updated."""
        if self.prefetched is not None and self.prefetched.product_id == product_id:
            item = self.prefetched.item
        else:
            item = _shopify_source(brand, self.commerce).fetch_product(product_id)
        if item is None:
            return self._remove(store, product_id), False
        if isinstance(item, CatalogFailure):
            return f"failed: {item.reason}", False
        try:
            outcome = store.upsert_product(item)
        except CatalogError as error:
            return f"failed: {error.reason}", False
        changed = outcome in (UpsertOutcome.CREATED, UpsertOutcome.UPDATED)
        return f"product {product_id} {outcome.value}", changed

    @staticmethod
    def _remove(store: SqlCatalogStore, product_id: str) -> str:
        product = store.find_product("shopify", product_id)
        if product is None:
            return f"ignored: product {product_id} is not in the catalog"
        if not store.remove_product(product):
            return f"product {product_id} was already retired"
        return f"product {product_id} removed"

    def _shopify_uninstalled(self, event: ShopifyAppUninstalled) -> str:
        brand = self._shop_brand(event.shop_domain)
        if brand is None:
            return f"ignored: shop {event.shop_domain} is not connected to a brand"
        # The tokens died with the install; keep the domain so past orders still name their shop.
        brand.shopify_access_token_encrypted = None
        brand.shopify_storefront_token_encrypted = None
        self.session.add(brand)
        self.session.flush()
        return f"shop {event.shop_domain} uninstalled: tokens cleared"

    def _shop_brand(self, shop_domain: str, *, lock: bool = False) -> Brand | None:
        brand = find_brand_by_shop(self.session, shop_domain)
        if brand is not None and lock:
            # Serializes a brand's Shopify orders so one order id is recorded once.
            brand = self.session.exec(select(Brand).where(Brand.id == brand.id).with_for_update()).one()
        return brand

    # Orders ----------------------------------------------------------------------------------------

    def _record_order(
        self,
        brand_id: uuid.UUID,
        provider: CheckoutProviderName,
        event_id: str,
        provider_order_id: str,
        amount: Money,
        checkout: CheckoutSession | None,
        placement: Placement | None = None,
        *,
        status: OrderStatus = OrderStatus.PAID,
        payment_id: str | None = None,
    ) -> str:
        if payment_id is not None:
            lock_payment(self.session, provider, payment_id)
        already = self.session.exec(
            select(Order).where(Order.provider == provider, Order.provider_order_id == provider_order_id)
        ).first()
        if already is not None:
            return f"already recorded as order {already.id}"
        order = Order(
            brand_id=brand_id,
            provider=provider,
            provider_event_id=event_id,
            provider_order_id=provider_order_id,
            checkout_session_id=checkout.id if checkout else None,
            placement_id=checkout.placement_id if checkout else placement.id if placement else None,
            episode_id=checkout.episode_id if checkout else placement.episode_id if placement else None,
            amount=amount.amount,
            currency=amount.currency,
            status=status,
            provider_payment_id=payment_id,
            # An order first seen already refunded (Shopify's financial status) was refunded in full.
            refunded_amount=amount.amount if status == OrderStatus.REFUNDED else Decimal(0),
        )
        self.session.add(order)
        if checkout is not None and status == OrderStatus.PAID:
            checkout.status = CheckoutStatus.COMPLETED
            self.session.add(checkout)
        self.session.flush()
        recorded = f"order {order.id} recorded ({status}, {amount})"
        refunded = self._held_refunds_of(order, payment_id or provider_order_id)
        if refunded is None:
            return recorded
        self.session.add(order)
        self.session.flush()
        return f"{recorded}; refunded before it was recorded: {refunded}"

    def _held_refunds_of(self, order: Order, payment_ref: str) -> Money | None:
        """Apply what was refunded of the purchase before its order was recorded (a refund that overtook
        the order's retried delivery, see api.webhooks.held_refunds); returns it, None if nothing was."""
        held = take_held_refund(self.session, order.provider, payment_ref)
        if held is None:
            return None
        if order.provider == CheckoutProviderName.STRIPE:
            if held.refunded_amount is None or held.currency is None:
                return None
            if not _stripe_account_speaks_for(self.session, order.brand_id, held.reported_by):
                return None
            refunded = Money(held.refunded_amount.normalize(), held.currency)
            # A failed refund applied to the hold: Stripe's snapshots from before it change nothing.
            order.refunds_reset_at = held.refunds_reset_at
        else:
            brand = self.session.get(Brand, order.brand_id)
            if brand is None or held.reported_by != brand.shopify_shop_domain or not shopify_connected(brand):
                return None
            refunds = self._order_refunds(brand, payment_ref)
            if refunds is None:
                return None
            refunded = refunds.refunded
        apply_refund(order, refunded)
        return Money(order.refunded_amount.normalize(), order.currency) if order.refunded_amount else None
