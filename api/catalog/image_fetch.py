"""Fetching catalog images given by URL, safely: http(s) only, public hosts only, bounded size and time.

Brands hand us URLs (API, imports, Shopify and Stripe product images); a worker downloads them so the
linker can index them. Each hop of a redirect is checked again, since a public URL may redirect to
an internal one. Hosts are checked by resolving them first; a host that resolves differently a moment
later (DNS rebinding) is not caught here: deployments that care put the workers behind an egress proxy.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

MAX_REDIRECTS = 3
# Answers that say "not now" rather than "never": a later try may well succeed.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class ImageFetchError(Exception):
    """Why an image URL could not be fetched; the message is stored on the image for the brand.

    `transient`: the failure may pass (a timeout, a connection refused or reset, HTTP 429 or 5xx, a
    name server that did not answer), so the image is tried again later; otherwise only the brand
    can fix it (a 404, not an image, too large, a private address)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class ImageFetcher:
    timeout_s: float
    max_bytes: int
    allow_private_hosts: bool = False

    def fetch(self, url: str) -> bytes:
        current = httpx.URL(url)
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                self._check_target(current)
                try:
                    with client.stream("GET", current, headers={"Accept": "image/*"}) as response:
                        if response.is_redirect and "location" in response.headers:
                            current = current.join(response.headers["location"])
                            continue
                        return self._body(response)
                except httpx.HTTPError as error:
                    raise ImageFetchError(
                        f"cannot fetch {current}: {type(error).__name__}: {error}",
                        transient=isinstance(error, httpx.TransportError)
                        and not isinstance(error, httpx.UnsupportedProtocol),
                    ) from error
        raise ImageFetchError(f"{url} redirects more than {MAX_REDIRECTS} times")

    def _check_target(self, url: httpx.URL) -> None:
        if url.scheme not in ("http", "https"):
            raise ImageFetchError(f"{url}: only http and https image URLs are fetched")
        if not url.host:
            raise ImageFetchError(f"{url}: no host")
        if self.allow_private_hosts:
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = {
                str(info[4][0]) for info in socket.getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
            }
        except (socket.gaierror, UnicodeError) as error:
            # EAI_AGAIN: the name server did not answer (now); any other answer is the name's own.
            again = isinstance(error, socket.gaierror) and error.errno == socket.EAI_AGAIN
            raise ImageFetchError(f"{url.host} does not resolve: {error}", transient=again) from error
        for address in sorted(addresses):
            if not ipaddress.ip_address(address.split("%")[0]).is_global:
                raise ImageFetchError(
                    f"{url.host} resolves to {address}, a private or local address; image URLs must be public"
                )

    def _body(self, response: httpx.Response) -> bytes:
        if response.status_code != 200:
            raise ImageFetchError(
                f"{response.url} answered HTTP {response.status_code}",
                transient=response.status_code in TRANSIENT_STATUSES,
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if (
            content_type
            and not content_type.startswith("image/")
            and content_type != "application/octet-stream"
        ):
            raise ImageFetchError(f"{response.url} is {content_type}, not an image")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ImageFetchError(f"{response.url} is {declared} bytes; the limit is {self.max_bytes}")
        chunks, total = [], 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > self.max_bytes:
                raise ImageFetchError(f"{response.url} exceeds the {self.max_bytes} byte image limit")
            chunks.append(chunk)
        return b"".join(chunks)
