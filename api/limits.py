"""Request body limits, enforced while the body streams in (Content-Length can lie or be absent).

Every body is capped at the JSON limit unless a route takes a larger one: an upload route that streams
media (`POST /v1/episodes/upload`, `POST /v1/products/{id}/images`) with a media content type, not
JSON or a form, and the catalog import (`POST /v1/catalog/import`), whose CSV or JSON file gets the
import cap. The route is matched on method and whole path, and the content type decides too: a JSON
body sent to an upload route is still a JSON body, read in full by its parser, so it gets the JSON cap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import send_problem
from api.settings import ApiSettings

# The episode upload's answer to a form or JSON (the route says the same to a small one).
EPISODE_BYTES_ONLY = "send the video bytes as the body (e.g. Content-Type: video/mp4), not a form"
# Room for the multipart framing around an image (boundaries, part headers, the filename).
MULTIPART_OVERHEAD_BYTES = 64 << 10


class _TooLarge(BaseException):
    """Not an `Exception`: FastAPI turns body-read errors into a 400, and this must become a 413."""


def media_type(scope: Scope) -> str:
    """The request's media type, lower case, without parameters ("" when none was sent)."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1")).split(";", 1)[0].strip().lower()
    return ""


def is_json(kind: str) -> bool:
    return kind == "application/json" or kind.endswith("+json")


def _is_form(kind: str) -> bool:
    return kind.startswith("multipart/") or kind == "application/x-www-form-urlencoded"


def _raw_media(kind: str) -> bool:
    # What the episode upload streams to disk: anything but JSON, forms and text (which it refuses), and
    # a body sent with no type at all (Python's requests sends a file so), which it probes like any.
    return not is_json(kind) and not _is_form(kind) and not kind.startswith("text/")


def _not_media(kind: str) -> bool:
    # What the episode upload refuses whatever its size: a form or JSON is not the video's bytes.
    return is_json(kind) or _is_form(kind)


def _multipart_form(kind: str) -> bool:
    return kind == "multipart/form-data"


def _catalog_file(kind: str) -> bool:
    # What the import route parses: CSV or JSON, as the route itself tells them apart.
    return "csv" in kind or "json" in kind


@dataclass(frozen=True, slots=True)
class UploadRoute:
    """A route that takes a large body: its method, its whole path, the content types it takes as such,
    and the cap for those."""

    method: str
    path: re.Pattern[str]
    accepts: Callable[[str], bool]
    limit_bytes: int
    what: str
    # Content types the route refuses outright, and its 415's words: answered before the body is read,
    # so a large body of the wrong type is told what is wrong, not that it is over the JSON cap.
    refuses: Callable[[str], bool] = lambda _kind: False
    refused: str = ""


def upload_routes(settings: ApiSettings) -> tuple[UploadRoute, ...]:
    return (
        UploadRoute(
            "POST",
            re.compile(r"/v1/episodes/upload"),
            _raw_media,
            settings.max_upload_bytes,
            "an episode",
            refuses=_not_media,
            refused=EPISODE_BYTES_ONLY,
        ),
        UploadRoute(
            "POST",
            re.compile(r"/v1/products/[^/]+/images"),
            _multipart_form,
            settings.max_image_bytes + MULTIPART_OVERHEAD_BYTES,
            "an image upload",
        ),
        UploadRoute(
            "POST",
            re.compile(r"/v1/catalog/import"),
            _catalog_file,
            settings.max_import_bytes,
            "a catalog import (REELCART_MAX_IMPORT_BYTES)",
        ),
    )


class BodySizeLimit:
    """Caps every request body at `json_bytes`; a body a matching route takes (an upload's media, an
    import's file) gets that route's cap."""

    def __init__(self, app: ASGIApp, *, json_bytes: int, uploads: Sequence[UploadRoute]):
        self.app = app
        self.json_bytes = json_bytes
        self.uploads = tuple(uploads)

    def _route(self, scope: Scope) -> UploadRoute | None:
        """The upload route this request is sent to (matched on method and whole path), if any."""
        method, path = scope.get("method", ""), scope.get("path", "")
        return next((r for r in self.uploads if r.method == method and r.path.fullmatch(path)), None)

    def refusal(self, scope: Scope) -> str | None:
        """The 415's words when a route takes large bodies but not of this type (None: go on)."""
        route = self._route(scope)
        return route.refused if route is not None and route.refuses(media_type(scope)) else None

    def limit_for(self, scope: Scope) -> tuple[int, str]:
        """The cap for this request and what it is (for the 413's detail)."""
        kind = media_type(scope)
        route = self._route(scope)
        # Each route says which content types it takes (the upload routes: no JSON).
        if route is not None and route.accepts(kind):
            return route.limit_bytes, route.what
        return self.json_bytes, "a JSON body" if is_json(kind) else "this request body"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is not None:
            await send_problem(scope, send, 415, refused, slug="unsupported-media-type")
            return
        limit, what = self.limit_for(scope)
        declared = content_length(scope)
        if declared is not None and declared > limit:
            await _reject(scope, send, limit, what)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _reject(scope, send, limit, what)


def content_length(scope: Scope) -> int | None:
    """The request's declared Content-Length (None when absent or not a number)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(scope: Scope, send: Send, limit: int, what: str) -> None:
    detail = f"request body exceeds the {limit} byte limit for {what}"
    await send_problem(scope, send, 413, detail, slug="payload-too-large")
