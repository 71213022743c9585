"""A tiny threaded loopback server for the browser tests: the web_overlay statics at the URLs the API will use
(/overlay/, /review/, /demo/episodes/{id}), a test video with Range support, and fakes of the timeline,
checkout, events and review routes that record what the browser sent."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.web.factories import JsonObject
from tests.web.fake_review import FakeResponse, FakeReviewApi, ok_json, problem
from tests.web.media import TestVideo

WEB_ROOT = Path(__file__).resolve().parents[2] / "web_overlay"
STATIC_SUFFIXES = {".js", ".css", ".html", ".svg"}
# A timeline source is a JSON body, raw bytes (to serve something malformed), or an HTTP status to fail with.
TimelineSource = JsonObject | bytes | int | Callable[[], JsonObject]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LoopbackState:
    """What the fakes serve and what the browser sent; tests reset it through `reset()`."""

    timelines: dict[str, TimelineSource] = field(default_factory=dict)
    checkout_provider: str = "stripe"
    requests: list[RecordedRequest] = field(default_factory=list)
    review: FakeReviewApi | None = None

    def recorded(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in list(self.requests) if r.method == method and r.path.startswith(path_prefix)]

    def events(self) -> list[JsonObject]:
        return [event for r in self.recorded("POST", "/v1/events") for event in r.json()["events"]]


class LoopbackServer:
    def __init__(self, video: TestVideo) -> None:
        self.video = video
        self.state = LoopbackState()
        self._lock = threading.Lock()
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> LoopbackState:
        with self._lock:
            self.state = LoopbackState()
        return self.state

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.state.requests.append(request)


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest shows failures, not every media range request."""

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            server.record(RecordedRequest(method, path, headers, body))
            state = server.state
            if state.review is not None and state.review.handles(path):
                self._send(state.review.handle(method, path, url.query, headers, body))
            elif method == "GET" and (match := re.fullmatch(r"/v1/episodes/([^/]+)/timeline", path)):
                self._send(_timeline(state, match.group(1), headers.get("If-None-Match")))
            elif method == "POST" and path == "/v1/checkout":
                self._send(_checkout(state, body))
            elif method == "POST" and path == "/v1/events":
                self._send(FakeResponse(HTTPStatus.ACCEPTED))
            elif method == "GET" and path.startswith("/fake-provider/"):
                page = f"<!doctype html><title>Provider checkout</title><h1>Checkout {path}</h1>".encode()
                self._send(FakeResponse(200, page, {"Content-Type": "text/html"}))
            elif method == "GET" and path == "/media/episode.mp4":
                self._send_file(server.video.path, "video/mp4")
            elif method == "GET" and (match := re.fullmatch(r"/media/thumbs/([\w-]+)\.svg", path)):
                self._send(_thumbnail(match.group(1)))
            elif method == "GET" and re.fullmatch(r"/demo/episodes/[^/]+", path):
                self._send_file(WEB_ROOT / "demo" / "episode.html", "text/html")
            elif method == "GET" and path in ("/review", "/review/"):
                self._send_file(WEB_ROOT / "review" / "index.html", "text/html")
            elif method == "GET" and path.startswith(("/overlay/", "/review/")):
                self._send_static(path)
            else:
                self._send(problem(404, "Not Found", f"No loopback route for {method} {path}."))

        def _send_static(self, path: str) -> None:
            relative = (
                path.removeprefix("/overlay/") if path.startswith("/overlay/") else path.removeprefix("/")
            )
            target = (WEB_ROOT / relative).resolve()
            if WEB_ROOT not in target.parents or target.suffix not in STATIC_SUFFIXES or not target.is_file():
                self._send(problem(404, "Not Found", f"No static file {path}."))
                return
            content_type = (
                "text/javascript" if target.suffix == ".js" else mimetypes.guess_type(target.name)[0]
            )
            self._send_file(target, content_type or "application/octet-stream")

        def _send_file(self, target: Path, content_type: str) -> None:
            data = target.read_bytes()
            headers = {"Content-Type": content_type, "Accept-Ranges": "bytes", "Cache-Control": "no-store"}
            status = 200
            # Chromium seeks media with Range requests; serve the single range it asks for.
            if (requested := self.headers.get("Range")) and (
                match := re.fullmatch(r"bytes=(\d+)-(\d*)", requested)
            ):
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else len(data) - 1
                end = min(end, len(data) - 1)
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                data = data[start : end + 1]
                status = 206
            self._send(FakeResponse(status, data, headers))

        def _send(self, response: FakeResponse) -> None:
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

    return Handler


def _timeline(state: LoopbackState, episode_id: str, if_none_match: str | None) -> FakeResponse:
    source = state.timelines.get(episode_id)
    if source is None:
        return problem(404, "Not Found", f"Episode {episode_id} has no timeline.")
    if isinstance(source, int):
        return problem(source, "Timeline unavailable", f"Fake failure for {episode_id}.")
    body = (
        source if isinstance(source, bytes) else json.dumps(source() if callable(source) else source).encode()
    )
    etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=0, must-revalidate"}
    if if_none_match == etag:
        return FakeResponse(304, b"", headers)
    return FakeResponse(200, body, {**headers, "Content-Type": "application/json"})


def _checkout(state: LoopbackState, body: bytes) -> FakeResponse:
    payload = json.loads(body)
    missing = {"placement_id", "variant_id", "quantity", "click_id"} - set(payload)
    if missing:
        return problem(422, "Unprocessable Content", f"Missing fields: {sorted(missing)}.")
    provider = payload.get("provider") or state.checkout_provider
    session_id = f"cs_{payload['click_id'][:8]}"
    url = f"/fake-provider/{provider}/{session_id}"
    stripe = provider == "stripe"
    session: dict[str, str | None] = {
        "checkout_session_id": session_id,
        "provider": "stripe" if stripe else "shopify",
        # Stripe answers with an embedded-checkout secret; Shopify only with a hosted checkout URL.
        "client_secret": f"{session_id}_secret_test" if stripe else None,
        "publishable_key": "pk_test_loopback" if stripe else None,
        "stripe_account": "acct_loopback" if stripe else None,
        "url": url,
    }
    return ok_json(session, status=201)


def _thumbnail(placement_id: str) -> FakeResponse:
    hue = int(hashlib.sha256(placement_id.encode()).hexdigest()[:2], 16) * 360 // 256
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="90" height="160">'
        f'<rect width="90" height="160" fill="hsl({hue} 60% 35%)"/>'
        f'<text x="8" y="86" fill="#fff" font-size="11">{placement_id}</text></svg>'
    )
    return FakeResponse(200, svg.encode(), {"Content-Type": "image/svg+xml"})
