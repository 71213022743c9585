"""Rate limits (the `limits` library): per client IP on the public routes, per API key everywhere a key
is used, and the first-sighting check that keeps one viewer's impressions of a placement to one per
window. Counters live in `REELCART_RATE_LIMIT_STORAGE_URL` (Redis: shared by every API process that
names it) or, unset, in this process's memory.

The public routes are matched here, before routing, on method and whole path, so a flood is turned
away before it reaches a session, a provider or the database; the answer is a 429 problem with
`Retry-After`. If the storage is unreachable the request goes through (and the failure is logged):
a broken Redis must not take the shop down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from anyio import to_thread
from limits import RateLimitItem, RateLimitItemPerSecond, parse_many
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from api.checkout.service import shopper_ip
from api.errors import TooManyRequests
from api.problems import send_problem
from api.settings import ApiSettings

log = logging.getLogger("reelcart.api.rate_limits")


@cache
def _items(limit: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limit))


class RateLimiter:
    """Spends from named limits and answers how long to wait when one is used up."""

    def __init__(self, settings: ApiSettings) -> None:
        self.enabled = settings.rate_limit_enabled
        uri = settings.rate_limit_storage_url or "memory://"
        self.shared = not uri.startswith("memory")
        storage = storage_from_string(uri, wrap_exceptions=True)
        if not isinstance(storage, Storage):
            raise ValueError(
                "REELCART_RATE_LIMIT_STORAGE_URL must name a synchronous storage (redis://…, memory://), "
                "not an async+ one"
            )
        self.storage = storage
        self._limits = SlidingWindowCounterRateLimiter(self.storage)
        self._windows = FixedWindowRateLimiter(self.storage)

    def spend(self, limit: str, scope: str, key: str, *, cost: int = 1) -> int | None:
        """Take `cost` from each of `limit`'s windows for (scope, key): None when allowed, else the
        seconds until it would be."""
        if not self.enabled or cost <= 0:
            return None
        for item in _items(limit):
            try:
                if self._limits.hit(item, scope, key, cost=cost):
                    continue
                reset = self._limits.get_window_stats(item, scope, key).reset_time
            except StorageError as error:
                log.warning("rate limit storage unavailable, letting the request through: %s", error)
                return None
            return max(1, math.ceil(reset - time.time()))
        return None

    def check(self, limit: str, scope: str, key: str, *, cost: int = 1, what: str) -> None:
        """`spend`, raising `TooManyRequests` (429 with Retry-After) when the limit is used up."""
        wait = self.spend(limit, scope, key, cost=cost)
        if wait is not None:
            raise TooManyRequests(
                f"too many {what} (limit {limit}); try again in {wait} s", retry_after_s=wait
            )

    def first_sighting(self, window_s: int, *identifiers: str) -> bool:
        """True the first time these identifiers are seen in a `window_s` window, False after."""
        try:
            return self._windows.hit(RateLimitItemPerSecond(1, window_s), "seen", *identifiers)
        except StorageError as error:
            log.warning("rate limit storage unavailable, counting the event: %s", error)
            return True


def client_ip(scope: Scope, settings: ApiSettings) -> str:
    """The client's address as the checkout sees it: the peer, or, behind a trusted proxy, the
    right-most X-Forwarded-For hop that is not one."""
    client = scope.get("client")
    peer = str(client[0]) if client else None
    forwarded = [
        value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"x-forwarded-for"
    ]
    return shopper_ip(peer, forwarded, settings.trusted_proxies) or "unknown"


def viewer_key(ip: str, user_agent: str) -> str:
    """Who watched, for counting impressions once: the player sends no viewer id, and anything a body
    claims can be rotated at will, so a viewer is the client IP with its User-Agent (hashed, never
    stored)."""
    return hashlib.sha256(f"{ip}\n{user_agent}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class PublicRoute:
    methods: frozenset[str]
    path: re.Pattern[str]
    scope: str
    what: str


PUBLIC_ROUTES: Sequence[PublicRoute] = (
    PublicRoute(frozenset({"POST"}), re.compile(r"/v1/events"), "events", "event batches"),
    PublicRoute(frozenset({"POST"}), re.compile(r"/v1/checkout"), "checkout", "checkouts"),
    PublicRoute(
        frozenset({"GET", "HEAD"}), re.compile(r"/v1/episodes/[^/]+/timeline"), "timeline", "timeline reads"
    ),
)


def _route_limit(route: PublicRoute, settings: ApiSettings) -> str:
    return {
        "events": settings.rate_limit_events,
        "checkout": settings.rate_limit_checkout,
        "timeline": settings.rate_limit_timeline,
    }[route.scope]


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            return token.strip() or None if kind.lower() == "bearer" else None
    return None


class RateLimits:
    """ASGI middleware: per-IP limits on the public routes, per-key limits on every keyed request."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, settings: ApiSettings) -> None:
        self.app = app
        self.limiter = limiter
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        refusal = await self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        detail, wait = refusal
        await _reject(scope, send, detail, wait)

    async def _refusal(self, scope: Scope) -> tuple[str, int] | None:
        checks: list[tuple[str, str, str, str]] = []
        method, path = scope.get("method", ""), scope.get("path", "")
        for route in PUBLIC_ROUTES:
            if method in route.methods and route.path.fullmatch(path):
                limit = _route_limit(route, self.settings)
                checks.append(
                    (limit, route.scope, client_ip(scope, self.settings), f"{route.what} from your address")
                )
        token = _bearer(scope)
        if token is not None:
            key = hashlib.sha256(token.encode()).hexdigest()[:32]
            checks.append((self.settings.rate_limit_api_key, "api-key", key, "requests with this API key"))
        for limit, name, key, what in checks:
            # A shared storage is a network round trip: off the event loop.
            wait = (
                await to_thread.run_sync(self.limiter.spend, limit, name, key)
                if self.limiter.shared
                else self.limiter.spend(limit, name, key)
            )
            if wait is not None:
                return f"too many {what} (limit {limit}); try again in {wait} s", wait
        return None


async def _reject(scope: Scope, send: Send, detail: str, wait: int) -> None:
    await send_problem(scope, send, 429, detail, slug="rate-limited", headers={"Retry-After": str(wait)})
