"""Commerce settings: provider secrets, API versions and base addresses, one `REELCART_` surface."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from commerce.exceptions import SettingsError

Environment = Literal["development", "test", "staging", "production"]

# A fixed, publicly known key so a fresh clone runs without configuration. Outside development it is
# refused like every other placeholder, because anyone could decrypt tokens stored under it.
DEVELOPMENT_TOKEN_KEY = base64.urlsafe_b64encode(b"reelcart-development-only-key!!!").decode()

_PLACEHOLDER_MARKERS = ("placeholder", "changeme", "change-me", "dummy", "example", "development-only")
_SHOPIFY_VERSION = re.compile(r"^\d{4}-(01|04|07|10)$")
# How pydantic-settings words a value it could not even parse (a list variable that is not JSON).
_UNPARSED_FIELD = re.compile(r'for field "(?P<field>\w+)" from source')


def describe_settings_error(error: ValueError, prefix: str = "REELCART_") -> str:
    """One line naming each environment variable at fault and what is wrong with it, for every
    settings class (`api` says it for its own and the tagger's too). Pydantic's own text spans lines
    and ends with a documentation URL. The input is not added (it may be a secret): only a validator's
    own message quotes a value, where the value is no secret."""
    if isinstance(error, ValidationError):
        return "; ".join(_describe(detail, prefix) for detail in error.errors(include_url=False))
    unparsed = _UNPARSED_FIELD.search(str(error)) if isinstance(error, SourceError) else None
    if unparsed is not None:
        variable = prefix + unparsed["field"].upper()
        return f'{variable}: not valid JSON (a list is written as one, e.g. ["a", "b"])'
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _describe(detail: ErrorDetails, prefix: str) -> str:
    message = detail["msg"].removeprefix("Value error, ")
    if not detail["loc"]:
        return message  # a check across fields, whose message names its variables itself
    field, *rest = detail["loc"]
    where = prefix + str(field).upper()
    # List positions count from 1 for a person; the other parts are the names of a union's members
    # (`float`, `list[str]`), which mean nothing to an operator.
    positions = [f"entry {part + 1}" for part in rest if isinstance(part, int)]
    if positions:
        where += f" ({', '.join(positions)})"
    return f"{where}: {message}"


def _is_placeholder(secret: SecretStr | None) -> bool:
    if secret is None:
        return False
    value = secret.get_secret_value().strip()
    if not value:
        return True
    lowered = value.lower()
    if value == DEVELOPMENT_TOKEN_KEY:
        return True
    return any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


def _fernet_key(value: SecretStr) -> SecretStr:
    # Checked when settings load, for the current key and every previous one alike: a bad key found at
    # first use would turn every stored token into "cannot be decrypted" with no word of the setting.
    try:
        raw = base64.urlsafe_b64decode(value.get_secret_value().encode())
    except (binascii.Error, ValueError) as error:
        raise ValueError("a token encryption key must be urlsafe base64 (a Fernet key)") from error
    if len(raw) != 32:
        raise ValueError(f"a token encryption key must decode to 32 bytes, got {len(raw)}")
    return value


FernetKey = Annotated[SecretStr, AfterValidator(_fernet_key)]


class CommerceSettings(BaseSettings):
    """Everything `commerce` needs from the environment (`REELCART_*`, e.g. `REELCART_STRIPE_SECRET_KEY`)."""

    model_config = SettingsConfigDict(env_prefix="REELCART_", extra="ignore", frozen=True)

    environment: Environment = "development"

    # Stripe (platform account; brands are Connect accounts whose ids travel with each call).
    stripe_secret_key: SecretStr = SecretStr("sk_test_placeholder")
    stripe_webhook_secret: SecretStr = SecretStr("whsec_placeholder")
    # The Connect endpoint (events from brands' connected accounts) has its own signing secret.
    stripe_connect_webhook_secret: SecretStr | None = None
    # The platform's Connect client id (ca_…): brands bind their account through Stripe's OAuth.
    stripe_connect_client_id: str | None = Field(default=None, pattern=r"^ca_[A-Za-z0-9]+$")
    stripe_api_base: str = "https://api.stripe.com"
    stripe_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # The SDK retries connection errors, 409 and 5xx itself, reusing the request's idempotency key.
    stripe_max_network_retries: int = Field(default=2, ge=0, le=5)

    # Shopify (one app; brands are shops with their own encrypted access tokens).
    shopify_api_secret: SecretStr = SecretStr("shpss_placeholder")
    # The app's client id (its "API key"): shops bind through Shopify's install (OAuth) flow.
    shopify_api_key: str | None = None
    # What the install asks for: products for catalog sync, orders for the order webhooks, and the
    # Storefront scopes checkout's carts need (the install then makes the shop a Storefront token).
    shopify_scopes: str = Field(
        default="read_products,read_orders,unauthenticated_read_product_listings,unauthenticated_write_checkouts",
        pattern=r"^[a-z_]+(,[a-z_]+)*$",
    )
    shopify_admin_api_version: str = "2026-10"
    # Matches the Storefront schema shipped by @shopify/hydrogen-react, which the tests validate against.
    shopify_storefront_api_version: str = "2026-04"
    shopify_storefront_token: SecretStr | None = None
    # Private (server-to-server) tokens are the ones Shopify recommends for calls from our servers;
    # they are sent with the shopper's IP so Shopify throttles per buyer, not per ReelCart.
    shopify_storefront_access: Literal["public", "private"] = "public"
    # Replaces https://{shop}.myshopify.com for Admin and Storefront calls (tests, staging proxies).
    shopify_base_url: str | None = None
    shopify_timeout_s: float = Field(default=10.0, gt=0, le=120)
    shopify_page_size: int = Field(default=50, ge=1, le=250)
    # Admin queries are reads, so throttled/5xx/timed-out ones are retried this many times.
    shopify_max_retries: int = Field(default=2, ge=0, le=5)

    # Fernet key (urlsafe base64 of 32 bytes) for brand access tokens at rest; previous keys still
    # decrypt so a key can be rotated without a flag day.
    token_encryption_key: FernetKey = SecretStr(DEVELOPMENT_TOKEN_KEY)
    token_encryption_previous_keys: list[FernetKey] = Field(default_factory=list)

    webhook_tolerance_s: int = Field(default=300, ge=1, le=3600)
    # Shopify retries a failed delivery 8 times over 4 hours, each retry stamped with the event's
    # original X-Shopify-Triggered-At, and says deliveries can rarely run up to a day late. A limit of
    # minutes would refuse every retry after a short outage and lose the order it carries; replays are
    # caught by the stored event id, so the age limit only drops deliveries too old to matter.
    shopify_webhook_max_age_s: int = Field(default=25 * 3600, ge=4 * 3600 + 1800, le=7 * 24 * 3600)

    @field_validator("stripe_api_base", "shopify_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base URL must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("shopify_admin_api_version", "shopify_storefront_api_version")
    @classmethod
    def _quarterly_release(cls, value: str) -> str:
        if not _SHOPIFY_VERSION.match(value):
            raise ValueError(f"Shopify API versions are quarterly releases like 2026-10, got {value!r}")
        return value

    @model_validator(mode="after")
    def _refuse_placeholders_outside_development(self) -> CommerceSettings:
        if self.environment == "development":
            return self
        secrets = {
            "stripe_secret_key": self.stripe_secret_key,
            "stripe_webhook_secret": self.stripe_webhook_secret,
            "stripe_connect_webhook_secret": self.stripe_connect_webhook_secret,
            "shopify_api_secret": self.shopify_api_secret,
            "shopify_storefront_token": self.shopify_storefront_token,
            "token_encryption_key": self.token_encryption_key,
        }
        offending = sorted(name for name, secret in secrets.items() if _is_placeholder(secret))
        if offending:
            names = ", ".join(f"REELCART_{name.upper()}" for name in offending)
            raise ValueError(f"placeholder secrets are only allowed in development: set {names}")
        return self


def load_commerce_settings(**overrides: object) -> CommerceSettings:
    """Read settings from the environment, raising `SettingsError` with one line instead of a dump."""
    try:
        return CommerceSettings(**overrides)  # type: ignore[arg-type]
    except (ValidationError, SourceError) as error:
        raise SettingsError(f"invalid commerce settings: {describe_settings_error(error)}") from error
