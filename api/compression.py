"""gzip for text answers (the timeline, the overlay SDK, JSON), with entity tags kept honest.

Starlette's `GZipMiddleware` compresses; this wrapper fixes what it leaves alone. A gzip body is another
representation than the identity one, so a strong ETag may not name both (RFC 9110 §8.8.1): a
compressed answer carries the weak form `W/"…"` of the route's tag. Revalidation still works, because
`If-None-Match` compares weakly (`api.timeline.service.etag_matches`, Starlette's `StaticFiles`), and a
304 answers with the tag in the form the client sent, so a cache keeps the validator it holds.
Media (video, images) and partial (206) answers are never compressed.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Below this a gzip header and trailer cost more than they save; an empty timeline is ~120 bytes.
MINIMUM_SIZE = 500
# Level 6: nearly level 9's size on JSON, at a fraction of its time per request.
COMPRESS_LEVEL = 6


class CompressedResponses:
    def __init__(
        self, app: ASGIApp, minimum_size: int = MINIMUM_SIZE, compresslevel: int = COMPRESS_LEVEL
    ) -> None:
        self.app = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match", "")

        async def send_with_etag_form(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                etag = headers.get("etag")
                if etag is not None and not etag.startswith("W/"):
                    compressed = "content-encoding" in headers
                    revalidated_weakly = message["status"] == 304 and _holds_weak(if_none_match, etag)
                    if compressed or revalidated_weakly:
                        headers["ETag"] = f"W/{etag}"
            await send(message)

        await self.app(scope, receive, send_with_etag_form)


def _holds_weak(if_none_match: str, etag: str) -> bool:
    return any(tag.strip() == f"W/{etag}" for tag in if_none_match.split(","))
