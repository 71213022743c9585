"""A loopback Shopify shop: Admin GraphQL (products with cursor pages) and Storefront `cartCreate`.

It answers by operation name and implements just enough of Shopify's semantics to be honest about
what the client sends: the access-token headers, the API version in the path, cursor pagination,
the `updated_at:>=` search filter, and cart user errors for unknown or unavailable variants.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.commerce.fakes.loopback import RecordedRequest, Reply

ADMIN_TOKEN = "shpat_loopback_admin"
STOREFRONT_TOKEN = "storefront_token_loopback"
SHOP = "drama-merch.myshopify.com"
APP_CLIENT_ID = "loopback-app-client-id"
_UPDATED_SINCE = re.compile(r"^updated_at:>='([^']+)'$")


def variant_node(
    number: int, *, price: str = "59.90", available: bool = True, sku: str | None = None, title: str = "M"
) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/ProductVariant/{number}",
        "title": title,
        "sku": sku,
        "price": price,
        "availableForSale": available,
        "selectedOptions": [{"name": "Size", "value": title}],
        "media": {"nodes": [{"image": {"url": f"https://cdn.shopify.test/v{number}.jpg"}}]},
    }


def product_node(
    number: int,
    title: str,
    variants: list[dict[str, Any]],
    *,
    updated_at: str = "2026-11-20T10:00:00Z",
    status: str = "ACTIVE",
) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/Product/{number}",
        "title": title,
        "handle": title.lower().replace(" ", "-"),
        "status": status,
        "vendor": "Drama Merch",
        "description": f"{title} from the show",
        "updatedAt": updated_at,
        # A video (no image) among the media, as Shopify returns for non-matching inline fragments.
        "media": {"nodes": [{"image": {"url": f"https://cdn.shopify.test/p{number}.jpg"}}, {}]},
        "variants": variants,  # full list; the fake pages them
    }


def graphql_error(message: str, code: str) -> Reply:
    return Reply.json(200, {"errors": [{"message": message, "extensions": {"code": code}}]})


@dataclass
class FakeShopify:
    admin_version: str = "2026-10"
    storefront_version: str = "2026-04"
    currency: str = "EUR"
    products: list[dict[str, Any]] = field(default_factory=list)
    variant_page_size: int = 100
    faults: list[Reply] = field(default_factory=list)
    admin_tokens: set[str] = field(default_factory=lambda: {ADMIN_TOKEN})
    carts: list[dict[str, Any]] = field(default_factory=list)
    # The app install: the app's credentials the token exchange must present, and the authorization
    # codes Shopify would hand the owner's browser (spent by their first exchange).
    app_client_id: str = APP_CLIENT_ID
    app_secret: str = ""
    install_codes: dict[str, str] = field(default_factory=dict)
    granted_scope: str = (
        "read_products,read_orders,unauthenticated_read_product_listings,unauthenticated_write_checkouts"
    )
    # userErrors storefrontAccessTokenCreate answers with instead of a token (e.g. a missing scope).
    storefront_token_errors: list[dict[str, Any]] = field(default_factory=list)
    storefront_tokens_created: int = 0
    # Orders' refunded totals in the shop's currency, by order GID (`OrderRefunds`); an order not
    # named here is one the shop no longer has.
    refunded: dict[str, tuple[str, str]] = field(default_factory=dict)
    _cart_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def route(self, request: RecordedRequest) -> Reply:
        if self.faults:
            return self.faults.pop(0)
        if request.method == "POST" and request.path == "/admin/oauth/access_token":
            return self._access_token(request.json())
        if request.path == f"/admin/api/{self.admin_version}/graphql.json":
            if request.headers.get("x-shopify-access-token") not in self.admin_tokens:
                return Reply.json(401, {"errors": "[API] Invalid API key or access token"})
            return self._admin(request.json())
        if request.path == f"/api/{self.storefront_version}/graphql.json":
            token = request.headers.get("x-shopify-storefront-access-token") or request.headers.get(
                "shopify-storefront-private-token"
            )
            if token != STOREFRONT_TOKEN:
                return Reply.json(401, {"errors": [{"message": "Unauthorized"}]})
            return self._storefront(request.json())
        return Reply.json(404, {"errors": "Not Found"})

    def _access_token(self, body: dict[str, Any]) -> Reply:
        """Shopify answers a wrong client or a bad, expired or used code with 400."""
        if body.get("client_id") != self.app_client_id or body.get("client_secret") != self.app_secret:
            return Reply.json(400, {"error": "invalid_client"})
        token = self.install_codes.pop(str(body.get("code")), None)
        if token is None:
            return Reply.json(
                400, {"error": "invalid_request", "error_description": "The authorization code was not found"}
            )
        self.admin_tokens.add(token)
        return Reply.json(200, {"access_token": token, "scope": self.granted_scope})

    # Admin API -----------------------------------------------------------------------------------

    def _admin(self, body: dict[str, Any]) -> Reply:
        query: str = body["query"]
        variables: dict[str, Any] = body.get("variables") or {}
        shop = {"currencyCode": self.currency}
        if query.startswith("# One page of products") or "query CatalogProducts(" in query:
            return Reply.json(200, {"data": {"shop": shop, "products": self._products_page(variables)}})
        if "query CatalogProduct(" in query:
            found = next((p for p in self.products if p["id"] == variables["id"]), None)
            return Reply.json(
                200, {"data": {"shop": shop, "product": found and self._with_variant_page(found)}}
            )
        if "mutation StorefrontTokenCreate(" in query:
            assert variables["input"]["title"]
            created: dict[str, Any]
            if self.storefront_token_errors:
                created = {"storefrontAccessToken": None, "userErrors": self.storefront_token_errors}
            else:
                self.storefront_tokens_created += 1
                created = {"storefrontAccessToken": {"accessToken": STOREFRONT_TOKEN}, "userErrors": []}
            return Reply.json(200, {"data": {"storefrontAccessTokenCreate": created}})
        if "query OrderRefunds(" in query:
            total = self.refunded.get(variables["id"])
            order = total and {
                "id": variables["id"],
                "test": False,
                "totalRefundedSet": {"shopMoney": {"amount": total[0], "currencyCode": total[1]}},
            }
            return Reply.json(200, {"data": {"order": order}})
        if "query CatalogProductVariants(" in query:
            found = next(p for p in self.products if p["id"] == variables["id"])
            start = int(variables["after"])
            page = self._page(found["variants"], start, min(variables["first"], self.variant_page_size))
            return Reply.json(200, {"data": {"product": {"variants": page}}})
        return graphql_error("unknown operation", "BAD_REQUEST")

    def _products_page(self, variables: dict[str, Any]) -> dict[str, Any]:
        selected = sorted(self.products, key=lambda p: p["updatedAt"])
        if variables.get("query"):
            match = _UPDATED_SINCE.match(variables["query"])
            assert match, f"unexpected search query {variables['query']!r}"
            selected = [p for p in selected if p["updatedAt"] >= match.group(1)]
        start = int(variables["after"]) if variables.get("after") else 0
        page = self._page(selected, start, variables["first"])
        page["nodes"] = [self._with_variant_page(p) for p in page["nodes"]]
        return page

    def _with_variant_page(self, product: dict[str, Any]) -> dict[str, Any]:
        return {**product, "variants": self._page(product["variants"], 0, self.variant_page_size)}

    @staticmethod
    def _page(items: list[dict[str, Any]], start: int, size: int) -> dict[str, Any]:
        end = start + size
        more = end < len(items)
        return {
            "nodes": items[start:end],
            "pageInfo": {"hasNextPage": more, "endCursor": str(end) if more else None},
        }

    # Storefront API ------------------------------------------------------------------------------

    def _storefront(self, body: dict[str, Any]) -> Reply:
        if body.get("operationName") != "CartCreate":
            return graphql_error("unknown operation", "BAD_REQUEST")
        cart_input = body["variables"]["input"]
        variants = {v["id"]: v for p in self.products for v in p["variants"]}
        total = Decimal(0)
        for line in cart_input["lines"]:
            variant = variants.get(line["merchandiseId"])
            if variant is None:
                return self._cart_error("INVALID", "The merchandise with id does not exist.")
            if not variant["availableForSale"]:
                return self._cart_error("MERCHANDISE_NOT_ENOUGH_STOCK", "The product is sold out.")
            total += Decimal(variant["price"]) * line["quantity"]
        number = next(self._cart_ids)
        cart = {
            "id": f"gid://shopify/Cart/c1-{number:04d}",
            "checkoutUrl": f"https://{SHOP}/cart/c/c1-{number:04d}?key=k{number}",
            "cost": {"totalAmount": {"amount": f"{total:.2f}", "currencyCode": self.currency}},
        }
        self.carts.append({"cart": cart, "input": cart_input})
        return Reply.json(200, {"data": {"cartCreate": {"cart": cart, "userErrors": [], "warnings": []}}})

    def order_webhook(self, cart_number: int, order_number: int) -> bytes:
        """The orders/create body for a checkout of cart `cart_number`: cart attributes become
        note_attributes, as Shopify copies them onto the order."""
        created = self.carts[cart_number - 1]
        order = {
            "id": order_number,
            "admin_graphql_api_id": f"gid://shopify/Order/{order_number}",
            "name": f"#{1000 + order_number}",
            "total_price": created["cart"]["cost"]["totalAmount"]["amount"],
            "currency": created["cart"]["cost"]["totalAmount"]["currencyCode"],
            "financial_status": "paid",
            "created_at": "2026-11-24T17:02:11Z",
            # A real sale: ReelCart records no test order (tests of those set "test": true).
            "test": False,
            "note_attributes": [
                {"name": a["key"], "value": a["value"]} for a in created["input"]["attributes"]
            ],
        }
        return json.dumps(order).encode()

    def refund_webhook(self, order_number: int, refund_number: int, *, amount: str) -> bytes:
        """The refunds/create body for a refund of `amount` (the shopper's currency) on an order."""
        refund = {
            "id": refund_number,
            "order_id": order_number,
            "admin_graphql_api_id": f"gid://shopify/Refund/{refund_number}",
            "created_at": "2026-11-25T09:00:00Z",
            "note": "returned",
            "restock": True,
            "refund_line_items": [],
            "transactions": [
                {"kind": "refund", "status": "success", "amount": amount, "currency": self.currency}
            ],
            "order_adjustments": [],
        }
        return json.dumps(refund).encode()

    @staticmethod
    def _cart_error(code: str, message: str) -> Reply:
        payload = {
            "cart": None,
            "userErrors": [{"field": ["input", "lines"], "message": message, "code": code}],
        }
        return Reply.json(200, {"data": {"cartCreate": {**payload, "warnings": []}}})
