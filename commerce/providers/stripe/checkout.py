"""Stripe Checkout Sessions (embedded page or hosted page) for one tap, on the brand's connected account."""

from __future__ import annotations

from datetime import UTC, datetime

import stripe
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsLineItem

from commerce.checkout import CheckoutLine, CheckoutRequest, CheckoutResult, CheckoutUi
from commerce.exceptions import MoneyError, ProviderError
from commerce.money import Money
from commerce.providers.stripe.amounts import from_stripe_amount, to_stripe_amount
from commerce.providers.stripe.client import PROVIDER, build_stripe_client, stripe_errors
from commerce.settings import CommerceSettings

# API versions from 2026 (this SDK pins 2026-10-28.endive) name Checkout's UI modes `embedded_page`
# and `hosted_page` (formerly `embedded` and `hosted`); see `SessionCreateParams.ui_mode` in the SDK.
_UI_MODES: dict[CheckoutUi, str] = {CheckoutUi.EMBEDDED: "embedded_page", CheckoutUi.HOSTED: "hosted_page"}


class StripeCheckoutProvider:
    provider = PROVIDER

    def __init__(self, client: stripe.StripeClient, *, account_id: str | None, timeout_s: float) -> None:
        self._client = client
        self._account_id = account_id
        self._timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: CommerceSettings, *, account_id: str | None) -> StripeCheckoutProvider:
        return cls(build_stripe_client(settings), account_id=account_id, timeout_s=settings.stripe_timeout_s)

    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        """One Checkout Session per tap: the idempotency key comes from the click, so a double tap or
        a retry after a timeout returns the session Stripe already created instead of a second one."""
        key = request.idempotency_key(PROVIDER, self._account_id or "platform")
        options: stripe.RequestOptions = {"idempotency_key": key}
        if self._account_id:
            options["stripe_account"] = self._account_id
        try:
            params = session_params(request)
        except MoneyError as error:
            # A price Stripe would refuse (`to_stripe_amount`): refused here, before a session exists;
            # the brand's price must change, so no retry helps.
            raise ProviderError(
                PROVIDER, str(error), retryable=False, code="amount_not_chargeable"
            ) from error
        with stripe_errors(self._timeout_s):
            session = self._client.v1.checkout.sessions.create(params, options)
        return _result(session, request.ui, key)


def session_params(request: CheckoutRequest) -> SessionCreateParams:
    attribution = request.attribution.as_pairs()
    params: SessionCreateParams = {
        "mode": "payment",
        "ui_mode": _UI_MODES[request.ui],
        "line_items": [_line_item(line) for line in request.lines],
        "client_reference_id": request.attribution.click_id,
        "metadata": attribution,
        # Copied onto the PaymentIntent so refunds and disputes can be traced to the placement too.
        "payment_intent_data": {"metadata": attribution},
    }
    if request.ui is CheckoutUi.EMBEDDED:
        params["return_url"] = request.return_url
    else:
        params["success_url"] = request.return_url
        if request.cancel_url:
            params["cancel_url"] = request.cancel_url
    return params


def _line_item(line: CheckoutLine) -> SessionCreateParamsLineItem:
    # price_data from our catalog price (not the Stripe price id) so the amount charged is the
    # amount the shopper saw, even if the Stripe price changed since the last sync.
    item: SessionCreateParamsLineItem = {
        "quantity": line.quantity,
        "price_data": {
            "currency": line.unit_price.currency.lower(),
            "unit_amount": to_stripe_amount(line.unit_price),
        },
        "metadata": {"reelcart_variant_ref": line.variant_ref},
    }
    if line.product_ref:
        item["price_data"]["product"] = line.product_ref
    else:
        item["price_data"]["product_data"] = {"name": line.title}
    return item


def _result(session: stripe.checkout.Session, ui: CheckoutUi, key: str) -> CheckoutResult:
    if ui is CheckoutUi.EMBEDDED and not session.client_secret:
        raise ProviderError(PROVIDER, f"session {session.id} has no client_secret", retryable=False)
    if ui is CheckoutUi.HOSTED and not session.url:
        raise ProviderError(PROVIDER, f"session {session.id} has no url", retryable=False)
    total: Money | None = None
    if session.amount_total is not None and session.currency:
        try:
            total = from_stripe_amount(session.amount_total, session.currency)
        except MoneyError as error:
            raise ProviderError(PROVIDER, f"session {session.id}: {error}", retryable=False) from error
    return CheckoutResult(
        provider=PROVIDER,
        provider_session_id=session.id,
        ui=ui,
        idempotency_key=key,
        client_secret=session.client_secret if ui is CheckoutUi.EMBEDDED else None,
        redirect_url=session.url if ui is CheckoutUi.HOSTED else None,
        provider_total=total,
        expires_at=datetime.fromtimestamp(session.expires_at, tz=UTC),
    )
