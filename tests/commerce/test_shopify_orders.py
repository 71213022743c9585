"""An order's refunded total read through the Admin API (after `refunds/create`), against a loopback shop."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from commerce.exceptions import ProviderError
from commerce.money import Money
from commerce.providers.shopify import OrderRefunds, ShopifyOrders
from tests.commerce.fakes.loopback import LoopbackServer, Reply
from tests.commerce.fakes.shopify_fake import ADMIN_TOKEN, SHOP, FakeShopify
from tests.utils.commerce import make_settings

ORDER = "gid://shopify/Order/90"


@pytest.fixture
def shop() -> Iterator[tuple[FakeShopify, ShopifyOrders]]:
    fake = FakeShopify()
    server = LoopbackServer(fake.route)
    with server.running():
        settings = make_settings(shopify_base_url=server.base_url, shopify_max_retries=0)
        yield fake, ShopifyOrders.from_settings(settings, shop_domain=SHOP, access_token=ADMIN_TOKEN)


def test_the_refunded_total_is_read_in_the_shops_currency(shop: tuple[FakeShopify, ShopifyOrders]) -> None:
    fake, orders = shop
    fake.refunded[ORDER] = ("59.90", "EUR")

    assert orders.fetch_refunds(ORDER) == OrderRefunds(ORDER, Money(Decimal("59.90"), "EUR"), test=False)


def test_an_order_the_shop_no_longer_has_is_none(shop: tuple[FakeShopify, ShopifyOrders]) -> None:
    _, orders = shop

    assert orders.fetch_refunds(ORDER) is None


@pytest.mark.parametrize(
    "order",
    [
        {"id": ORDER, "test": False, "totalRefundedSet": None},
        {
            "id": ORDER,
            "test": False,
            "totalRefundedSet": {"shopMoney": {"amount": "x", "currencyCode": "EUR"}},
        },
        {
            "id": ORDER,
            "test": False,
            "totalRefundedSet": {"shopMoney": {"amount": "1.5", "currencyCode": "QQQ"}},
        },
        "not an object",
    ],
    ids=["no-total", "not-a-number", "unknown-currency", "not-an-object"],
)
def test_an_unusable_answer_is_a_provider_error_no_retry_fixes(
    shop: tuple[FakeShopify, ShopifyOrders], order: object
) -> None:
    fake, orders = shop
    fake.faults.append(Reply.json(200, {"data": {"order": order}}))

    with pytest.raises(ProviderError) as raised:
        orders.fetch_refunds(ORDER)

    assert raised.value.retryable is False
    assert ORDER in str(raised.value)
