"""Checkout value types and the port every checkout provider (Stripe, Shopify) implements."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from commerce.exceptions import CheckoutRequestError
from commerce.money import Money

# A hotspot sells one item to one shopper; larger quantities are almost always a bug or abuse.
MAX_LINE_QUANTITY = 10
MAX_LINES = 10
# Stripe metadata values and Shopify attribute values are short strings; our ids fit easily.
MAX_ATTRIBUTION_ID_LENGTH = 200


class CheckoutUi(enum.Enum):
    EMBEDDED = "embedded"  # rendered inside the player; the result carries a client secret
    HOSTED = "hosted"  # provider-hosted page; the result carries a redirect URL


@dataclass(frozen=True, slots=True)
class Attribution:
    """The ids that let a webhook find the tap that caused an order."""

    click_id: str
    placement_id: str
    episode_id: str

    def __post_init__(self) -> None:
        for name in ("click_id", "placement_id", "episode_id"):
            value = getattr(self, name)
            if not value or len(value) > MAX_ATTRIBUTION_ID_LENGTH:
                raise CheckoutRequestError(f"{name} must be 1..{MAX_ATTRIBUTION_ID_LENGTH} characters")

    def as_pairs(self) -> dict[str, str]:
        """The same keys for Stripe metadata and Shopify cart attributes, so parsing is shared."""
        return {
            "reelcart_click_id": self.click_id,
            "reelcart_placement_id": self.placement_id,
            "reelcart_episode_id": self.episode_id,
        }

    @classmethod
    def from_pairs(cls, pairs: dict[str, str]) -> Attribution | None:
        """Read attribution back from metadata/attributes; None when any id is missing (not our checkout)."""
        try:
            return cls(
                click_id=pairs["reelcart_click_id"],
                placement_id=pairs["reelcart_placement_id"],
                episode_id=pairs["reelcart_episode_id"],
            )
        except (KeyError, CheckoutRequestError):
            return None


@dataclass(frozen=True, slots=True)
class CheckoutLine:
    """One line, priced from our catalog (never from the client)."""

    variant_ref: str  # Shopify variant GID or Stripe price id
    title: str
    unit_price: Money
    quantity: int
    product_ref: str | None = None  # Stripe product id, when the variant came from Stripe

    def __post_init__(self) -> None:
        if not 1 <= self.quantity <= MAX_LINE_QUANTITY:
            raise CheckoutRequestError(f"quantity must be 1..{MAX_LINE_QUANTITY}, got {self.quantity}")
        if not self.variant_ref:
            raise CheckoutRequestError("variant_ref must not be empty")


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    lines: tuple[CheckoutLine, ...]
    attribution: Attribution
    # Embedded: where Stripe sends the shopper after payment methods that redirect. Hosted: success URL.
    return_url: str
    cancel_url: str | None = None
    ui: CheckoutUi = CheckoutUi.EMBEDDED
    buyer_ip: str | None = None  # forwarded to Shopify with private Storefront tokens

    def __post_init__(self) -> None:
        if not 1 <= len(self.lines) <= MAX_LINES:
            raise CheckoutRequestError(f"a checkout needs 1..{MAX_LINES} lines, got {len(self.lines)}")
        currencies = {line.unit_price.currency for line in self.lines}
        if len(currencies) != 1:
            raise CheckoutRequestError(f"all lines must share one currency, got {sorted(currencies)}")

    @property
    def currency(self) -> str:
        return self.lines[0].unit_price.currency

    @property
    def total(self) -> Money:
        return Money(
            sum((line.unit_price.times(line.quantity).amount for line in self.lines), Decimal(0)),
            self.currency,
        )

    def idempotency_key(self, provider: str, account: str) -> str:
        """Same tap → same key, so a double tap or a retry after a timeout yields one provider session.

        The UI mode is part of the key because an embedded session and its hosted fallback are two
        different provider objects for the same click.
        """
        digest = hashlib.sha256(
            "\x1f".join((provider, account, self.attribution.click_id, self.ui.value)).encode()
        ).hexdigest()
        return f"reelcart-checkout-{digest[:48]}"


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    provider: str
    provider_session_id: str
    ui: CheckoutUi
    idempotency_key: str
    client_secret: str | None = None  # embedded Stripe checkout
    redirect_url: str | None = None  # hosted Stripe page, Shopify checkoutUrl or cart permalink
    provider_total: Money | None = None  # what the provider will charge, for reconciliation
    expires_at: datetime | None = None


class CheckoutProvider(Protocol):
    """Creates a provider checkout for one tap. Raises `ProviderError` / `ProviderTimeout`."""

    @property
    def provider(self) -> str: ...

    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult: ...
