"""gzip for text answers: the timeline, the overlay SDK, JSON and problem documents.

Starlette's `GZipMiddleware` does the work (video, images and partial 206 answers are left alone). It
keeps each route's ETag as it is, and that is what ReelCart wants: the tag names the stored document
(the timeline's bytes, a placement's version), not its transfer encoding. Weakening it on gzip
answers, as some servers do, would break `If-Match` on placements (the review console sends back what
it read, and a stale-edit check compares strongly) for nothing: `Vary: Accept-Encoding` already keeps
a cache's gzip and identity copies apart, and `If-None-Match` revalidates either to the same 304.
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp

# Below this a gzip header and trailer cost more than they save; an empty timeline is ~120 bytes.
MINIMUM_SIZE = 500
# Level 6: nearly level 9's size on JSON, at a fraction of its time per request.
COMPRESS_LEVEL = 6


class CompressedResponses(GZipMiddleware):
    def __init__(
        self, app: ASGIApp, minimum_size: int = MINIMUM_SIZE, compresslevel: int = COMPRESS_LEVEL
    ) -> None:
        super().__init__(app, minimum_size=minimum_size, compresslevel=compresslevel)
