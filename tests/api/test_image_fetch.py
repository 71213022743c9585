"""Fetching catalog images by URL: public http(s) hosts only, bounded size, clear reasons on failure."""

from __future__ import annotations

import socket
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from api.catalog.image_fetch import ImageFetcher, ImageFetchError
from tests.api.image_server import serving


def _png(width: int = 64, height: int = 48) -> bytes:
    ok, data = cv2.imencode(".png", np.full((height, width, 3), 90, np.uint8))
    assert ok
    return data.tobytes()


PNG = _png()
LOCAL = ImageFetcher(timeout_s=5, max_bytes=10_000, allow_private_hosts=True)


def test_fetches_an_image_following_redirects() -> None:
    routes = {
        "/pack.png": (200, {"Content-Type": "image/png", "Content-Length": str(len(PNG))}, PNG),
        "/moved": (302, {"Location": "/pack.png"}, b""),
        "/streamed": (200, {"Content-Type": "image/png"}, PNG),
    }
    with serving(routes) as base:
        assert LOCAL.fetch(f"{base}/pack.png") == PNG
        assert LOCAL.fetch(f"{base}/moved") == PNG
        assert LOCAL.fetch(f"{base}/streamed") == PNG


@pytest.mark.parametrize(
    ("path", "route", "reason"),
    [
        ("/missing.png", None, "answered HTTP 404"),
        (
            "/page",
            (200, {"Content-Type": "text/html", "Content-Length": "5"}, b"<p/>!"),
            "is text/html, not an image",
        ),
        (
            "/huge",
            (200, {"Content-Type": "image/png", "Content-Length": "20000"}, b"x" * 20_000),
            "is 20000 bytes",
        ),
        (
            "/endless",
            (200, {"Content-Type": "image/png"}, b"x" * 20_000),
            "exceeds the 10000 byte image limit",
        ),
        ("/loop", (302, {"Location": "/loop"}, b""), "redirects more than 3 times"),
    ],
)
def test_refuses_what_is_not_a_reasonable_image_with_the_reason(
    path: str, route: tuple[int, dict[str, str], bytes] | None, reason: str
) -> None:
    with serving({path: route} if route else {}) as base, pytest.raises(ImageFetchError, match=reason):
        LOCAL.fetch(f"{base}{path}")


def test_refuses_other_schemes_and_unreachable_hosts() -> None:
    with pytest.raises(ImageFetchError, match="only http and https"):
        LOCAL.fetch("file:///etc/passwd")
    with pytest.raises(ImageFetchError, match="only http and https"):
        LOCAL.fetch("ftp://cdn.example/pack.png")
    with serving({}) as base:
        port = base.rsplit(":", 1)[1]
    with pytest.raises(ImageFetchError, match="cannot fetch"):
        LOCAL.fetch(f"http://127.0.0.1:{port}/gone.png")  # the server is closed: connection refused


def test_private_and_local_addresses_are_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    strict = ImageFetcher(timeout_s=5, max_bytes=10_000)
    with (
        serving({"/pack.png": (200, {"Content-Type": "image/png"}, PNG)}) as base,
        pytest.raises(ImageFetchError, match=r"127\.0\.0\.1, a private or local address"),
    ):
        strict.fetch(f"{base}/pack.png")

    resolved = {
        "cdn.example": "93.184.216.34",
        "intranet.example": "10.0.0.5",
        "meta.example": "169.254.169.254",
    }

    def fake_getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in resolved:
            raise socket.gaierror(f"unknown host {host}")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (resolved[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    strict._check_target(httpx.URL("https://cdn.example/pack.png"))  # public: allowed
    for host in ("intranet.example", "meta.example"):
        with pytest.raises(ImageFetchError, match="a private or local address"):
            strict._check_target(httpx.URL(f"http://{host}/pack.png"))
    with pytest.raises(ImageFetchError, match="does not resolve"):
        strict._check_target(httpx.URL("http://nowhere.example/pack.png"))


@pytest.mark.parametrize(
    ("status", "transient"),
    [(503, True), (429, True), (500, True), (504, True), (404, False), (403, False), (410, False)],
)
def test_a_failure_that_may_pass_says_so_and_one_that_will_not_does_not(status: int, transient: bool) -> None:
    with (
        serving({"/p.png": (status, {"Content-Type": "text/plain"}, b"no")}) as base,
        pytest.raises(ImageFetchError) as failed,
    ):
        LOCAL.fetch(f"{base}/p.png")

    assert str(failed.value) == f"{base}/p.png answered HTTP {status}"
    assert failed.value.transient is transient


def test_a_host_that_refuses_the_connection_may_accept_it_later() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # Nothing listens on the port now: the connection is refused, as by a CDN node being restarted

    with pytest.raises(ImageFetchError) as failed:
        LOCAL.fetch(f"http://127.0.0.1:{port}/p.png")

    assert failed.value.transient is True
    assert "ConnectError" in str(failed.value)


def test_what_only_the_brand_can_fix_is_not_transient() -> None:
    with (
        serving({"/page": (200, {"Content-Type": "text/html"}, b"<html>")}) as base,
        pytest.raises(ImageFetchError) as not_an_image,
    ):
        LOCAL.fetch(f"{base}/page")
    with pytest.raises(ImageFetchError) as other_scheme:
        LOCAL.fetch("ftp://cdn.example/p.png")

    assert (not_an_image.value.transient, other_scheme.value.transient) == (False, False)
