"""Binding a brand to a Stripe account or a Shopify shop only through the provider's proof of control.

A brand key starts a flow and gets the provider's authorize URL with a `state`: the brand id, the
provider (and, for Shopify, the shop), a nonce and an expiry, signed with REELCART_SECRET_KEY. The
owner authorizes at the provider, which sends the browser to our callback with a code and that state.
The callback checks the signature, the expiry and that the state was never used before (its nonce is
stored once, `OAuthStateUse`), then exchanges the code with the provider: the account id (Stripe) or
the offline token (Shopify) comes from the provider, never from the request. Services speak no HTTP.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete

from api.brands.exceptions import (
    ConnectStateRefused,
    InvalidCallbackSignature,
    ProviderAuthorizationRefused,
)
from api.brands.models import Brand, CheckoutProviderName, OAuthStateUse
from api.brands.service import bind_shopify_shop, bind_stripe_account, get_brand
from api.commerce_config import token_cipher
from api.errors import CommerceNotConfigured
from api.settings import ApiSettings
from commerce.exceptions import AuthorizationRefusedError, ProviderError, SettingsError
from commerce.providers.shopify import (
    SHOP_DOMAIN,
    create_storefront_token,
    exchange_shopify_code,
    install_url,
    verify_callback,
)
from commerce.providers.stripe import exchange_stripe_code, stripe_authorize_url
from commerce.settings import CommerceSettings

log = logging.getLogger("reelcart.api.brands")

STATE_TTL_S = 600  # long enough to sign in at the provider, short enough that a leaked URL dies soon
STRIPE_CALLBACK = "/oauth/stripe/callback"
SHOPIFY_CALLBACK = "/oauth/shopify/callback"
_PURPOSE = b"reelcart provider connect state v1"


@dataclass(frozen=True, slots=True)
class ConnectState:
    provider: CheckoutProviderName
    brand_id: uuid.UUID
    nonce: str
    expires: int
    shop: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectStart:
    """Where to send the owner, and until when the state in it is accepted."""

    url: str
    expires_at: datetime


def _key(secret: str) -> bytes:
    # A key of its own, so a state and a signed media URL can never stand for each other.
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_state(
    provider: CheckoutProviderName,
    brand_id: uuid.UUID,
    *,
    shop: str | None = None,
    now: float | None = None,
    ttl_s: int = STATE_TTL_S,
) -> ConnectState:
    expires = int((time.time() if now is None else now) + ttl_s)
    return ConnectState(provider, brand_id, secrets.token_hex(16), expires, shop)


def encode_state(secret: str, state: ConnectState) -> str:
    payload = {
        "p": state.provider.value,
        "b": str(state.brand_id),
        "n": state.nonce,
        "e": state.expires,
        "s": state.shop,
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64(hmac.new(_key(secret), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def read_state(
    secret: str, token: str, provider: CheckoutProviderName, *, now: float | None = None
) -> ConnectState:
    """The state's claims once its signature, provider and expiry hold; `ConnectStateRefused` else."""
    body, _, signature = token.partition(".")
    expected = _b64(hmac.new(_key(secret), body.encode(), hashlib.sha256).digest())
    if not body or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise ConnectStateRefused("the state is not one this server issued; start connecting again")
    try:
        claims = json.loads(_unb64(body))
        state = ConnectState(
            provider=CheckoutProviderName(claims["p"]),
            brand_id=uuid.UUID(claims["b"]),
            nonce=str(claims["n"]),
            expires=int(claims["e"]),
            shop=claims.get("s"),
        )
    except (binascii.Error, ValueError, KeyError, TypeError):  # a signed state we cannot read: a bug
        raise ConnectStateRefused("the state cannot be read; start connecting again") from None
    if state.provider is not provider:
        raise ConnectStateRefused(f"the state was issued for {state.provider.value}, not {provider.value}")
    if state.expires < (time.time() if now is None else now):
        raise ConnectStateRefused(
            f"the state expired (it lasts {STATE_TTL_S // 60} minutes); start connecting again"
        )
    return state


def consume_state(
    session: Session, secret: str, token: str, provider: CheckoutProviderName, *, now: float | None = None
) -> ConnectState:
    """Read the state and mark it used (flushed; the caller commits before calling the provider, so
    a state is spent even when the exchange then fails: a retry starts a new flow)."""
    state = read_state(secret, token, provider, now=now)
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    session.exec(delete(OAuthStateUse).where(col(OAuthStateUse.expires_at) < moment))
    session.add(
        OAuthStateUse(
            nonce=state.nonce,
            provider=provider,
            brand_id=state.brand_id,
            expires_at=datetime.fromtimestamp(state.expires, UTC),
        )
    )
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ConnectStateRefused("the state was already used; start connecting again") from None
    get_brand(session, state.brand_id)  # a brand deleted meanwhile is a 404, not a dangling binding
    return state


def _secret(settings: ApiSettings) -> str:
    return settings.secret_key.get_secret_value()


def begin_stripe_connect(brand: Brand, settings: ApiSettings, commerce: CommerceSettings) -> ConnectStart:
    state = issue_state(CheckoutProviderName.STRIPE, brand.id)
    try:
        url = stripe_authorize_url(
            commerce,
            state=encode_state(_secret(settings), state),
            redirect_uri=settings.public_base_url + STRIPE_CALLBACK,
        )
    except SettingsError as error:
        raise CommerceNotConfigured(str(error)) from None
    return ConnectStart(url, datetime.fromtimestamp(state.expires, UTC))


def finish_stripe_connect(
    session: Session,
    state: ConnectState,
    commerce: CommerceSettings,
    code: str | None,
    *,
    declined: str | None = None,
) -> Brand:
    """Exchange the code for the account it proves; bind it (flushed; the caller commits).
    `declined`: Stripe's error description when the owner did not authorize."""
    if declined is not None:
        raise ProviderAuthorizationRefused(f"Stripe did not connect the account: {declined}")
    if not code:
        raise ProviderAuthorizationRefused("the callback carries no authorization code")
    try:
        account = exchange_stripe_code(commerce, code)
    except SettingsError as error:
        raise CommerceNotConfigured(str(error)) from None
    except AuthorizationRefusedError as error:
        raise ProviderAuthorizationRefused(str(error)) from None
    return bind_stripe_account(session, get_brand(session, state.brand_id), account)


def begin_shopify_install(
    brand: Brand, shop: str, settings: ApiSettings, commerce: CommerceSettings
) -> ConnectStart:
    state = issue_state(CheckoutProviderName.SHOPIFY, brand.id, shop=shop)
    try:
        url = install_url(
            commerce,
            shop=shop,
            state=encode_state(_secret(settings), state),
            redirect_uri=settings.public_base_url + SHOPIFY_CALLBACK,
        )
    except SettingsError as error:
        raise CommerceNotConfigured(str(error)) from None
    return ConnectStart(url, datetime.fromtimestamp(state.expires, UTC))


def verify_shopify_callback(
    session: Session, query: list[tuple[str, str]], settings: ApiSettings, commerce: CommerceSettings
) -> tuple[ConnectState, str, str]:
    """Signature, shop, state (consumed) of an install callback: the state, the shop and the code."""
    try:
        verify_callback(query, commerce)
    except AuthorizationRefusedError as error:
        raise InvalidCallbackSignature(error.reason) from None
    params = dict(query)
    shop = params.get("shop", "")
    if not SHOP_DOMAIN.match(shop):
        raise ProviderAuthorizationRefused(
            f"the callback's shop {shop[:100]!r} is not a shop domain (name.myshopify.com)"
        )
    state = consume_state(session, _secret(settings), params.get("state", ""), CheckoutProviderName.SHOPIFY)
    if state.shop != shop:
        raise ConnectStateRefused("the state was issued for another shop; start connecting again")
    code = params.get("code", "")
    if not code:
        raise ProviderAuthorizationRefused("the callback carries no authorization code")
    return state, shop, code


def finish_shopify_install(
    session: Session, state: ConnectState, shop: str, code: str, commerce: CommerceSettings
) -> Brand:
    """Exchange the code for the shop's offline token; bind shop and token (flushed, not committed)."""
    try:
        grant = exchange_shopify_code(commerce, shop=shop, code=code)
    except SettingsError as error:
        raise CommerceNotConfigured(str(error)) from None
    except AuthorizationRefusedError as error:
        raise ProviderAuthorizationRefused(error.reason) from None
    storefront = None
    if grant.allows_storefront:
        try:
            storefront = create_storefront_token(commerce, shop=shop, access_token=grant.access_token)
        except ProviderError as error:
            # The shop is still connected: checkout falls back to a cart permalink, as without the scope.
            log.warning("shop %s installed without a Storefront token: %s", shop, error)
    brand = get_brand(session, state.brand_id)
    return bind_shopify_shop(session, brand, shop, grant.access_token, storefront, token_cipher(commerce))
