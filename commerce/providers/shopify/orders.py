"""An order's refunds, read from the Admin API after a `refunds/create` webhook."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from commerce.exceptions import MoneyError, ProviderError
from commerce.money import Money
from commerce.providers.shopify.admin import PROVIDER, ShopifyAdmin
from commerce.providers.shopify.documents import load_document
from commerce.settings import CommerceSettings


@dataclass(frozen=True, slots=True)
class OrderRefunds:
    order_id: str
    refunded: Money  # every refund of the order so far, in the shop's currency
    test: bool


class ShopifyOrders:
    """The refund webhook's body is in the shopper's currency (a Markets order may be in another than
    the shop's) and says only what this one refund gave back; the order's `totalRefundedSet.shopMoney`
    is the running total in the currency the order was recorded in, the same whatever order refunds
    arrive in or how often a delivery is repeated."""

    def __init__(self, admin: ShopifyAdmin) -> None:
        self._admin = admin

    @classmethod
    def from_settings(
        cls, settings: CommerceSettings, *, shop_domain: str, access_token: str
    ) -> ShopifyOrders:
        return cls(ShopifyAdmin(settings, shop_domain=shop_domain, access_token=access_token))

    def fetch_refunds(self, order_id: str) -> OrderRefunds | None:
        """None when the shop no longer has the order."""
        data = self._admin.execute(load_document("order_refunds.graphql"), {"id": order_id})
        node = data.get("order")
        if node is None:
            return None
        if not isinstance(node, dict):
            raise ProviderError(PROVIDER, f"order {order_id}: answer is not an object", retryable=False)
        return OrderRefunds(
            order_id=order_id, refunded=_shop_money(order_id, node), test=node.get("test") is True
        )


def _shop_money(order_id: str, node: dict[str, Any]) -> Money:
    money = (node.get("totalRefundedSet") or {}).get("shopMoney") or {}
    try:
        return Money(Decimal(str(money["amount"])), str(money["currencyCode"]))
    except (KeyError, InvalidOperation, MoneyError) as error:
        raise ProviderError(
            PROVIDER, f"order {order_id}: unusable totalRefundedSet ({type(error).__name__})", retryable=False
        ) from None
