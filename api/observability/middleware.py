"""The request middleware: a request id for every request (the caller's, when it is sane), timing and
counting by route template, and one access log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability.context import request_id_var
from api.observability.metrics import observe_request

REQUEST_ID_HEADER = "x-request-id"
# What an incoming id may look like: a proxy's or client's id in the usual alphabets (UUIDs, ULIDs,
# trace ids), short enough for a log line. Anything else (spaces, quotes, control characters that
# could forge log lines, megabytes) is replaced by our own.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
UNMATCHED_ROUTE = "<unmatched>"
# Methods are labels too; anything else a client invents is counted as OTHER.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

access_log = logging.getLogger("reelcart.access")


def request_id_from(incoming: str | None) -> str:
    """The caller's X-Request-ID when it is sane, else a new one (32 hex digits)."""
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/episodes/{episode_id}`), so each route is one label
    however many ids it serves; requests no route matched share one label."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class RequestObservation:
    """Outermost middleware: sets the request id (context variable, `request.state.request_id`, the
    response's `X-Request-ID`), and after the answer records its status and latency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == REQUEST_ID_HEADER.encode():
                incoming = value.decode("latin-1")
                break
        request_id = request_id_from(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500  # what an exception escaping the app becomes (the server's error handler)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != REQUEST_ID_HEADER.encode()
                ]
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = str(scope.get("method", ""))
            observe_request(method if method in _METHODS else "OTHER", route, status, elapsed)
            access_log.info(
                "%s %s %s %.1f ms",
                method,
                scope.get("path", ""),
                status,
                elapsed * 1000,
                extra={
                    "method": method,
                    "route": route,
                    "path": scope.get("path", ""),
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            request_id_var.reset(token)
