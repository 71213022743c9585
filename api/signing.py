"""Signed, expiring URLs for brand media that a browser loads without headers (<img>, <video>)."""

from __future__ import annotations

import hashlib
import hmac
import time

from api.errors import MediaUrlRefused

DEFAULT_TTL_S = 6 * 3600


def _signature(secret: str, path: str, expires: int) -> str:
    message = f"{path}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:40]


def sign_path(secret: str, path: str, *, ttl_s: int = DEFAULT_TTL_S, now: float | None = None) -> str:
    """`path` plus `?exp=…&sig=…`, valid for `ttl_s` seconds."""
    expires = int((now if now is not None else time.time()) + ttl_s)
    return f"{path}?exp={expires}&sig={_signature(secret, path, expires)}"


def verify_signed_path(
    secret: str, path: str, exp: int | None, sig: str | None, *, now: float | None = None
) -> None:
    """Raise a 403 problem unless `sig` signs `path` until `exp`, and `exp` has not passed."""
    if exp is None or sig is None:
        raise MediaUrlRefused("this media URL needs its exp and sig parameters", slug="unsigned-media-url")
    if exp < (now if now is not None else time.time()):
        raise MediaUrlRefused(
            "this media URL has expired; fetch a fresh one from the API", slug="expired-media-url"
        )
    # As bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, so a 500).
    if not hmac.compare_digest(_signature(secret, path, exp).encode(), sig.encode()):
        raise MediaUrlRefused("this media URL's signature does not match", slug="bad-media-url-signature")
