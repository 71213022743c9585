"""A charge's refunded total, read from the Stripe API after one of its refunds failed.

`charge.refunded` carries the charge's running total with it; `charge.refund.updated` carries only
the refund. When a refund fails (or is canceled) Stripe takes it back out of the charge's
`amount_refunded`, and reading the charge is the one way to learn the total that stands now.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from commerce.exceptions import MoneyError, ProviderError
from commerce.money import Money
from commerce.providers.stripe.amounts import from_stripe_amount
from commerce.providers.stripe.client import PROVIDER, build_stripe_client, stripe_errors
from commerce.settings import CommerceSettings


@dataclass(frozen=True, slots=True)
class ChargeRefunds:
    charge_id: str
    refunded: Money  # every refund of the charge that stands, in the charge's currency


class StripeCharges:
    def __init__(self, client: stripe.StripeClient, *, account_id: str | None, timeout_s: float) -> None:
        self._client = client
        self._account_id = account_id
        self._timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: CommerceSettings, *, account_id: str | None) -> StripeCharges:
        return cls(build_stripe_client(settings), account_id=account_id, timeout_s=settings.stripe_timeout_s)

    def refunds_of(self, charge_id: str) -> ChargeRefunds:
        options: stripe.RequestOptions = {"stripe_account": self._account_id} if self._account_id else {}
        with stripe_errors(self._timeout_s):
            charge = self._client.v1.charges.retrieve(charge_id, options=options)
        try:
            refunded = from_stripe_amount(charge.amount_refunded, charge.currency)
        except MoneyError as error:
            raise ProviderError(PROVIDER, f"charge {charge_id}: {error}", retryable=False) from None
        return ChargeRefunds(charge_id=charge_id, refunded=refunded)
