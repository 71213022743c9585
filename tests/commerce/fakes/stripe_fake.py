"""A loopback Stripe: prices (paged lists) and Checkout Sessions with real idempotency semantics.

Responses are serialized from the SDK's own object constructors (`stripe.Price.construct_from`,
`stripe.checkout.Session.construct_from`, `stripe.ListObject.construct_from`) so their shape is what
the SDK's deserializer expects.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

from tests.commerce.fakes.loopback import RecordedRequest, Reply

API_KEY = "sk_test_loopback"
NOW = 1_764_000_000  # 2025-11-24T16:00:00Z, a fixed "now" for created/expires timestamps


def stripe_json(obj: stripe.StripeObject) -> bytes:
    return json.dumps(obj.to_dict()).encode()


def payment_intent_of(session_id: str) -> str:
    """The PaymentIntent id the fake gives a session's payment: cs_test_0001 pays as pi_test_0001."""
    return "pi_" + session_id.removeprefix("cs_")


def error_reply(status: int, error_type: str, message: str, code: str | None = None) -> Reply:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        error["code"] = code
    return Reply.json(status, {"error": error}, **{"Request-Id": "req_fake"})


@dataclass
class FakeStripe:
    prices: list[dict[str, Any]] = field(default_factory=list)
    # Replies served (in order) instead of the normal answer, e.g. a 500 or a slow response.
    faults: list[Reply] = field(default_factory=list)
    # Replies for specific request numbers (1-based), e.g. {2: a 500} fails the second page.
    faults_at: dict[int, Reply] = field(default_factory=dict)
    sessions: dict[str, stripe.checkout.Session] = field(default_factory=dict)
    # Connect OAuth: authorization codes Stripe would hand the owner's browser, and the account each
    # grants; a code is spent by its first exchange, as at Stripe.
    oauth_codes: dict[str, str] = field(default_factory=dict)
    # Charges as `GET /v1/charges/{id}` answers them now (the last refund event's snapshot, or what a
    # failed refund left), keyed by charge id.
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    _served: int = 0
    _by_key: dict[tuple[str, str], tuple[dict[str, str], bytes]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def completed_event(self, session_id: str, event_id: str, account: str | None) -> bytes:
        """The `checkout.session.completed` body Stripe would POST after the shopper pays: the
        session now names the PaymentIntent it confirmed (Stripe creates one only then)."""
        paid = self.sessions[session_id].to_dict() | {
            "status": "complete",
            "payment_status": "paid",
            "payment_intent": payment_intent_of(session_id),
        }
        event = stripe.Event.construct_from(
            {
                "id": event_id,
                "object": "event",
                "type": "checkout.session.completed",
                "account": account,
                "created": NOW + 120,
                "livemode": False,
                "data": {"object": paid},
            },
            API_KEY,
        )
        return stripe_json(event)

    def refunded_event(
        self,
        session_id: str,
        event_id: str,
        account: str | None,
        *,
        refunded: int,
        livemode: bool = False,
        payment_intent: str | None = None,
        created: int = NOW + 3600,
    ) -> bytes:
        """The `charge.refunded` body Stripe POSTs after a refund of the session's payment: the charge
        as it stands, `amount_refunded` being every refund of it so far (in Stripe's minor units).
        `payment_intent` names another payment (a sale of the account's that ReelCart never saw)."""
        session = self.sessions[session_id]
        intent = payment_intent or payment_intent_of(session_id)
        charge: dict[str, Any] = {
            "id": "ch_" + intent.removeprefix("pi_"),
            "object": "charge",
            "amount": session.amount_total,
            "amount_captured": session.amount_total,
            "amount_refunded": refunded,
            "currency": session.currency,
            "paid": True,
            "payment_intent": intent,
            "refunded": refunded == session.amount_total,
            "status": "succeeded",
            "metadata": {},
            "livemode": livemode,
            "created": NOW + 60,
        }
        self.charges[charge["id"]] = charge
        event = stripe.Event.construct_from(
            {
                "id": event_id,
                "object": "event",
                "type": "charge.refunded",
                "account": account,
                "created": created,
                "livemode": livemode,
                "data": {"object": charge},
            },
            API_KEY,
        )
        return stripe_json(event)

    def refund_failed_event(
        self,
        session_id: str,
        event_id: str,
        account: str | None,
        *,
        failed: int,
        status: str = "failed",
        created: int = NOW + 7200,
    ) -> bytes:
        """The `charge.refund.updated` body Stripe POSTs when a refund of `failed` minor units of the
        session's charge fails: Stripe takes it back out of the charge's `amount_refunded` (what a read
        of the charge answers from now on); the event carries the refund alone."""
        intent = payment_intent_of(session_id)
        charge = self.charges["ch_" + intent.removeprefix("pi_")]
        if status in ("failed", "canceled"):
            charge["amount_refunded"] -= failed
            charge["refunded"] = False
        refund = {
            "id": f"re_{event_id}",
            "object": "refund",
            "amount": failed,
            "charge": charge["id"],
            "payment_intent": intent,
            "currency": charge["currency"],
            "status": status,
            "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
            "created": NOW + 3000,
        }
        event = stripe.Event.construct_from(
            {
                "id": event_id,
                "object": "event",
                "type": "charge.refund.updated",
                "account": account,
                "created": created,
                "livemode": False,
                "data": {"object": refund},
            },
            API_KEY,
        )
        return stripe_json(event)

    def route(self, request: RecordedRequest) -> Reply:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return error_reply(401, "invalid_request_error", "Invalid API Key provided")
        self._served += 1
        if self._served in self.faults_at:
            return self.faults_at.pop(self._served)
        if self.faults:
            fault = self.faults.pop(0)
            if fault.status != 200:
                return fault
            # A slow but successful answer: do the work, answer late.
            reply = self._answer(request)
            reply.delay_s = fault.delay_s
            return reply
        return self._answer(request)

    def _answer(self, request: RecordedRequest) -> Reply:
        url = urlsplit(request.path)
        if request.method == "GET" and url.path == "/v1/prices":
            return self._list_prices(dict(parse_qsl(url.query)))
        if request.method == "POST" and url.path == "/v1/checkout/sessions":
            return self._create_session(request)
        if request.method == "GET" and url.path.startswith("/v1/charges/"):
            charge = self.charges.get(url.path.removeprefix("/v1/charges/"))
            if charge is None:
                return error_reply(404, "invalid_request_error", "No such charge", code="resource_missing")
            return Reply.json(200, charge)
        if request.method == "POST" and url.path == "/oauth/token":
            return self._oauth_token(dict(parse_qsl(request.body.decode())))
        return error_reply(404, "invalid_request_error", f"Unrecognized request URL ({url.path})")

    def _oauth_token(self, params: dict[str, str]) -> Reply:
        """Stripe's Connect token endpoint: OAuth errors are `{error, error_description}` bodies."""
        if params.get("grant_type") != "authorization_code":
            return Reply.json(
                400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}
            )
        account = self.oauth_codes.pop(params.get("code", ""), None)
        if account is None:
            description = f"Authorization code does not exist: {params.get('code', '')}"
            return Reply.json(400, {"error": "invalid_grant", "error_description": description})
        return Reply.json(
            200,
            {
                "access_token": "sk_test_connected_unused",
                "livemode": False,
                "refresh_token": "rt_unused",
                "scope": "read_write",
                "stripe_publishable_key": "pk_test_connected",
                "stripe_user_id": account,
                "token_type": "bearer",
            },
        )

    def _list_prices(self, query: dict[str, str]) -> Reply:
        limit = int(query.get("limit", "10"))
        active = (
            [price for price in self.prices if price["active"]]
            if query.get("active") == "true"
            else self.prices
        )
        start = 0
        if "starting_after" in query:
            start = next(i for i, price in enumerate(active) if price["id"] == query["starting_after"]) + 1
        page = active[start : start + limit]
        expand = query.get("expand[0]") == "data.product"
        data = [price if expand else {**price, "product": price["product"]["id"]} for price in page]
        listing: stripe.ListObject[stripe.Price] = stripe.ListObject.construct_from(
            {"object": "list", "url": "/v1/prices", "has_more": start + limit < len(active), "data": data},
            API_KEY,
        )
        return Reply(200, stripe_json(listing), {"Content-Type": "application/json"})

    def _create_session(self, request: RecordedRequest) -> Reply:
        params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        account = request.headers.get("stripe-account", "")
        key = request.headers.get("idempotency-key")
        if key and (account, key) in self._by_key:
            first_params, body = self._by_key[(account, key)]
            if first_params != params:
                return error_reply(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                )
            return Reply(200, body, {"Content-Type": "application/json", "Idempotent-Replayed": "true"})
        session = self._new_session(params, account)
        body = stripe_json(session)
        if key:
            self._by_key[(account, key)] = (params, body)
        return Reply(200, body, {"Content-Type": "application/json"})

    def _new_session(self, params: dict[str, str], account: str) -> stripe.checkout.Session:
        number = next(self._ids)
        session_id = f"cs_test_{number:04d}"
        embedded = params.get("ui_mode") == "embedded_page"
        total = sum(
            int(params[f"line_items[{i}][price_data][unit_amount]"])
            * int(params[f"line_items[{i}][quantity]"])
            for i in itertools.takewhile(lambda i: f"line_items[{i}][quantity]" in params, itertools.count())
        )
        metadata = {
            key[len("metadata[") : -1]: value for key, value in params.items() if key.startswith("metadata[")
        }
        session = stripe.checkout.Session.construct_from(
            {
                "id": session_id,
                "object": "checkout.session",
                "mode": params["mode"],
                "ui_mode": params.get("ui_mode", "hosted_page"),
                "status": "open",
                "payment_status": "unpaid",
                "amount_total": total,
                "currency": params["line_items[0][price_data][currency]"],
                "client_reference_id": params.get("client_reference_id"),
                "metadata": metadata,
                "client_secret": f"{session_id}_secret_{number}" if embedded else None,
                "url": None if embedded else f"https://checkout.stripe.com/c/pay/{session_id}",
                "return_url": params.get("return_url"),
                "success_url": params.get("success_url"),
                "created": NOW,
                "expires_at": NOW + 24 * 3600,
                "livemode": False,
            },
            API_KEY,
        )
        self.sessions[session_id] = session
        return session


def price(
    price_id: str,
    product: dict[str, Any],
    *,
    unit_amount: int | None,
    currency: str = "eur",
    kind: str = "one_time",
    nickname: str | None = None,
    lookup_key: str | None = None,
    active: bool = True,
) -> dict[str, Any]:
    """A Price as the API returns it, built through the SDK constructor then flattened back to JSON."""
    values: dict[str, Any] = {
        "id": price_id,
        "object": "price",
        "active": active,
        "currency": currency,
        "unit_amount": unit_amount,
        "type": kind,
        "nickname": nickname,
        "lookup_key": lookup_key,
        "product": product,
        "recurring": {"interval": "month", "interval_count": 1} if kind == "recurring" else None,
        "created": NOW,
        "livemode": False,
    }
    return stripe.Price.construct_from(values, API_KEY).to_dict()


def product(
    product_id: str, name: str, *, active: bool = True, images: list[str] | None = None
) -> dict[str, Any]:
    values = {
        "id": product_id,
        "object": "product",
        "active": active,
        "name": name,
        "description": f"{name} as seen in episode 3",
        "images": images or [],
        "created": NOW,
        "updated": NOW + 60,
        "livemode": False,
    }
    return stripe.Product.construct_from(values, API_KEY).to_dict()
