"""Typed webhook events (core types: providers build them, `commerce.webhooks` routes them).

Every event exposes `provider`, `event_id` (the dedupe key) and `event_type`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from commerce.checkout import Attribution
from commerce.money import Money


class StripeCheckoutOutcome(enum.Enum):
    COMPLETED = "checkout.session.completed"
    ASYNC_PAYMENT_SUCCEEDED = "checkout.session.async_payment_succeeded"
    ASYNC_PAYMENT_FAILED = "checkout.session.async_payment_failed"
    EXPIRED = "checkout.session.expired"


@dataclass(frozen=True, slots=True)
class StripeCheckoutEvent:
    """A Checkout Session changed state. Count an order only when `paid` is true."""

    provider: ClassVar[str] = "stripe"
    event_id: str
    outcome: StripeCheckoutOutcome
    session_id: str
    payment_status: str  # "paid", "unpaid" (async methods still pending) or "no_payment_required"
    account_id: str | None  # the connected account (brand) for Connect events
    attribution: Attribution | None  # None for sessions ReelCart did not create
    client_reference_id: str | None
    amount_total: Money | None
    created_at: datetime
    livemode: bool
    # The session's PaymentIntent: what a later `charge.refunded` names the purchase by.
    payment_intent_id: str | None = None

    @property
    def event_type(self) -> str:
        return self.outcome.value

    @property
    def paid(self) -> bool:
        """Money is collected: completed and paid, or a delayed payment method finally succeeded."""
        if self.outcome is StripeCheckoutOutcome.ASYNC_PAYMENT_SUCCEEDED:
            return True
        return self.outcome is StripeCheckoutOutcome.COMPLETED and self.payment_status in {
            "paid",
            "no_payment_required",
        }


@dataclass(frozen=True, slots=True)
class StripeChargeRefunded:
    """Part or all of a charge was given back (`charge.refunded`, sent for every refund, partial ones
    too). `refunded` is the charge's total refunded so far, not this refund's amount, so events read
    in any order and any number of times settle on the same figure."""

    provider: ClassVar[str] = "stripe"
    event_type: ClassVar[str] = "charge.refunded"
    event_id: str
    charge_id: str
    payment_intent_id: str | None  # how ReelCart's order knows the purchase (None: not a PaymentIntent's)
    account_id: str | None
    amount: Money  # what the charge took
    refunded: Money  # how much of it has been refunded, all refunds together
    livemode: bool
    # When Stripe made the snapshot (the event's `created`): one older than a read of the charge that
    # followed a failed refund says less than that read does.
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StripeRefundFailed:
    """A refund of a charge failed or was canceled (`charge.refund.updated` with status `failed` or
    `canceled`): Stripe took it back out of the charge's refunded total, which only a read of the
    charge tells (`commerce.providers.stripe.charges`), since the event carries the refund alone."""

    provider: ClassVar[str] = "stripe"
    event_type: ClassVar[str] = "charge.refund.updated"
    event_id: str
    refund_id: str
    charge_id: str
    payment_intent_id: str | None
    account_id: str | None
    status: str
    livemode: bool
    created_at: datetime | None = None  # the event's `created`, Stripe's clock


@dataclass(frozen=True, slots=True)
class StripeAccountDeauthorized:
    """A connected account removed ReelCart's access (`account.application.deauthorized`): nothing can
    be sold through it any more, and Stripe answers no API call for it."""

    provider: ClassVar[str] = "stripe"
    event_type: ClassVar[str] = "account.application.deauthorized"
    event_id: str
    account_id: str


@dataclass(frozen=True, slots=True)
class ShopifyOrderEvent:
    """What every `orders/*` webhook carries: the order as it stands when the topic fired."""

    provider: ClassVar[str] = "shopify"
    event_type: ClassVar[str]
    event_id: str
    shop_domain: str
    order_id: str  # Admin GraphQL GID, e.g. gid://shopify/Order/450789469
    order_name: str
    total: Money
    financial_status: str | None
    attribution: Attribution | None  # from the cart attributes, which arrive as note_attributes
    created_at: datetime | None
    test: bool


@dataclass(frozen=True, slots=True)
class ShopifyOrderCreated(ShopifyOrderEvent):
    """An order was placed; it may not be paid yet (`financial_status` pending)."""

    event_type: ClassVar[str] = "orders/create"


@dataclass(frozen=True, slots=True)
class ShopifyOrderPaid(ShopifyOrderEvent):
    """The order's payment was captured (or it became fully paid): count it now."""

    event_type: ClassVar[str] = "orders/paid"


@dataclass(frozen=True, slots=True)
class ShopifyOrderCancelled(ShopifyOrderEvent):
    """The merchant cancelled the order; Shopify cannot un-cancel, so this is final."""

    event_type: ClassVar[str] = "orders/cancelled"
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None  # customer, fraud, inventory, declined, staff, other


@dataclass(frozen=True, slots=True)
class ShopifyRefundCreated:
    """A refund was made on an order (`refunds/create`). Its body carries the refund in the shopper's
    currency; the order's refunded total in the shop's currency (the one its orders are recorded in) is
    read from the Admin API (`commerce.providers.shopify.orders`)."""

    provider: ClassVar[str] = "shopify"
    event_type: ClassVar[str] = "refunds/create"
    event_id: str
    shop_domain: str
    order_id: str  # Admin GraphQL GID of the refunded order
    refund_id: str


class ShopifyProductTopic(enum.Enum):
    CREATE = "products/create"
    UPDATE = "products/update"
    DELETE = "products/delete"


@dataclass(frozen=True, slots=True)
class ShopifyProductChanged:
    """A product changed; re-fetch it (payloads are REST-shaped, our catalog is GraphQL-shaped)."""

    provider: ClassVar[str] = "shopify"
    event_id: str
    shop_domain: str
    topic: ShopifyProductTopic
    product_id: str  # GID

    @property
    def event_type(self) -> str:
        return self.topic.value


@dataclass(frozen=True, slots=True)
class ShopifyAppUninstalled:
    """The shop removed the app: its tokens are dead and should be deleted."""

    provider: ClassVar[str] = "shopify"
    event_type: ClassVar[str] = "app/uninstalled"
    event_id: str
    shop_domain: str


@dataclass(frozen=True, slots=True)
class ShopifyCustomerDataRequest:
    """Mandatory compliance topic `customers/data_request`: a shopper asked the shop what apps hold
    about them. `order_ids` are the GIDs of the orders they placed that Shopify says may concern us."""

    provider: ClassVar[str] = "shopify"
    event_type: ClassVar[str] = "customers/data_request"
    event_id: str
    shop_domain: str
    customer_id: str
    order_ids: tuple[str, ...]
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ShopifyCustomerRedact:
    """Mandatory compliance topic `customers/redact`: erase what we hold about this shopper's orders."""

    provider: ClassVar[str] = "shopify"
    event_type: ClassVar[str] = "customers/redact"
    event_id: str
    shop_domain: str
    customer_id: str
    order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ShopifyShopRedact:
    """Mandatory compliance topic `shop/redact` (48 hours after an uninstall): erase the shop's data."""

    provider: ClassVar[str] = "shopify"
    event_type: ClassVar[str] = "shop/redact"
    event_id: str
    shop_domain: str


@dataclass(frozen=True, slots=True)
class UnhandledEvent:
    """A verified event of a type ReelCart does not act on; acknowledge it and move on."""

    provider: str
    event_id: str
    event_type: str


WebhookEvent = (
    StripeCheckoutEvent
    | StripeChargeRefunded
    | StripeRefundFailed
    | StripeAccountDeauthorized
    | ShopifyOrderCreated
    | ShopifyOrderPaid
    | ShopifyOrderCancelled
    | ShopifyRefundCreated
    | ShopifyProductChanged
    | ShopifyAppUninstalled
    | ShopifyCustomerDataRequest
    | ShopifyCustomerRedact
    | ShopifyShopRedact
    | UnhandledEvent
)
