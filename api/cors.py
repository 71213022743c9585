"""Cross-origin rules by audience: players embed ReelCart on any site, brands work from ours.

The player's routes (the public timeline, events, checkout, the overlay SDK and the product images it
shows) answer any origin, and take no Authorization header from one. Every other route is same-origin
unless `REELCART_CORS_ORIGINS` names the origins a brand's own tools call it from: a page on some other
site must not be able to drive the brand API with a key it got hold of.
"""

from __future__ import annotations

import re

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# The routes a player on any site calls, as path patterns.
PLAYER_ROUTES = re.compile(
    r"^/v1/episodes/[^/]+/timeline$|^/v1/events$|^/v1/checkout$|^/v1/images/[^/]+$|^/overlay/"
)
# What a script may read of an answer: the version to send back in If-Match, and where a queued job is
# (`Location` on a 202; `Link: rel="monitor"` on a write that queued one, such as saving a product's marks).
_EXPOSED = ["ETag", "X-Request-ID", "Retry-After", "Location", "Link"]


class AudienceCors:
    """`*` for the player's routes, the configured origins (none by default) for the rest."""

    def __init__(self, app: ASGIApp, *, brand_origins: list[str]) -> None:
        self.player = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Content-Type", "If-None-Match"],
            expose_headers=_EXPOSED,
        )
        self.brand: ASGIApp = (
            CORSMiddleware(
                app,
                allow_origins=brand_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
                expose_headers=_EXPOSED,
            )
            if brand_origins
            else app
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and PLAYER_ROUTES.match(scope.get("path", "")):
            await self.player(scope, receive, send)
        else:
            await self.brand(scope, receive, send)
