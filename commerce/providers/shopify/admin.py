"""Admin GraphQL through the official SDK (`shopify.Session` + `shopify.GraphQL`), with a timeout."""

from __future__ import annotations

import itertools
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import shopify

from commerce.exceptions import ProviderError, ProviderTimeout
from commerce.settings import CommerceSettings

PROVIDER = "shopify"
# A shop's own domain: the only host ReelCart sends a shop's token to (checked wherever one is used).
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_BACKOFF_S = 1.0  # Shopify restores query cost at 50-100 points per second; one second is a fair wait


class _SessionAt(shopify.Session):  # type: ignore[misc]  # the SDK ships no type information
    """A session whose site is `base_url` instead of https://{shop}.myshopify.com (tests, staging)."""

    def __init__(self, shop_domain: str, version: str, token: str, base_url: str) -> None:
        super().__init__(shop_domain, version, token)
        self._base_url = base_url

    @property
    def site(self) -> str:
        return cast(str, self.version.api_path(self._base_url))


class _TimedGraphQL(shopify.GraphQL):  # type: ignore[misc]
    """`shopify.GraphQL` with a timeout. The SDK's `execute` waits forever and prints error bodies to
    stdout; here the endpoint and auth headers still come from the SDK's active session."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self._timeout_s = timeout_s

    def execute(
        self, query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None
    ) -> str:
        headers = self.merge_headers(
            {"Accept": "application/json", "Content-Type": "application/json"}, self.headers
        )
        body = json.dumps({"query": query, "variables": variables, "operationName": operation_name})
        request = urllib.request.Request(self.endpoint, body.encode(), headers, method="POST")  # noqa: S310 -- https or a configured base URL
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
            return cast(bytes, response.read()).decode()


class ShopifyAdmin:
    """One shop's Admin API. Each call activates the session only for its own duration (thread-local)."""

    def __init__(
        self,
        settings: CommerceSettings,
        *,
        shop_domain: str,
        access_token: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.shop_domain = shop_domain
        self._version = settings.shopify_admin_api_version
        self._token = access_token
        self._base_url = settings.shopify_base_url
        self._timeout_s = settings.shopify_timeout_s
        self._max_retries = settings.shopify_max_retries
        self._sleep = sleep

    @property
    def endpoint(self) -> str:
        """Where `execute` posts, as the SDK computes it from the session."""
        with self._active_session():
            return str(shopify.GraphQL().endpoint)

    def execute(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one read-only document and return its `data`; failures leave as `ProviderError`.

        Throttling, 5xx and timeouts are retried with exponential backoff: the catalog documents
        are queries, so sending one twice changes nothing.
        """
        for attempt in itertools.count():
            try:
                return self._execute_once(document, variables)
            except ProviderError as error:
                if not error.retryable or attempt >= self._max_retries:
                    raise
                self._sleep(_BACKOFF_S * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover -- itertools.count() never ends

    def mutate(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one mutation once: never retried, since sending it twice would do it twice."""
        return self._execute_once(document, variables)

    def _execute_once(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        with self._active_session(), _admin_errors(self._timeout_s):
            raw = _TimedGraphQL(self._timeout_s).execute(document, variables)
        return parse_graphql_response(raw)

    @contextmanager
    def _active_session(self) -> Iterator[None]:
        if self._base_url is None:
            session = shopify.Session(self.shop_domain, self._version, self._token)
        else:
            session = _SessionAt(self.shop_domain, self._version, self._token, self._base_url)
        shopify.ShopifyResource.activate_session(session)
        try:
            yield
        finally:
            shopify.ShopifyResource.clear_session()


def _caused_by_timeout(error: BaseException) -> bool:
    reason = getattr(error, "reason", None)
    return isinstance(error, TimeoutError) or isinstance(reason, TimeoutError)


@contextmanager
def _admin_errors(timeout_s: float) -> Iterator[None]:
    try:
        yield
    except urllib.error.HTTPError as error:
        status = error.code
        error.close()
        if status in {401, 403}:
            raise ProviderError(PROVIDER, "access token refused", retryable=False, status=status) from None
        raise ProviderError(
            PROVIDER,
            f"Admin API answered HTTP {status}",
            retryable=status in _RETRYABLE_STATUSES,
            status=status,
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        if _caused_by_timeout(error):
            raise ProviderTimeout(PROVIDER, timeout_s) from None
        raise ProviderError(PROVIDER, "cannot reach the Admin API", retryable=True) from None


def parse_graphql_response(raw: str) -> dict[str, Any]:
    """GraphQL reports most failures with HTTP 200 and an `errors` list; throttling is one of them."""
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        raise ProviderError(PROVIDER, "GraphQL answer is not JSON", retryable=True) from None
    if not isinstance(body, dict):
        raise ProviderError(PROVIDER, "GraphQL answer is not an object", retryable=False)
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else {"message": str(errors)}
        code = (first.get("extensions") or {}).get("code") if isinstance(first, dict) else None
        message = first.get("message", "unknown error") if isinstance(first, dict) else str(first)
        throttled = code == "THROTTLED"
        raise ProviderError(
            PROVIDER, f"GraphQL error: {message}"[:300], retryable=throttled, code=str(code) if code else None
        )
    data = body.get("data")
    if not isinstance(data, dict):
        raise ProviderError(PROVIDER, "GraphQL answer has no data", retryable=False)
    return data
