"""Errors raised by the commerce library. `api` maps them to HTTP; here they only carry context."""

from __future__ import annotations


class CommerceError(Exception):
    """Base class for every error the commerce library raises on purpose."""


class MoneyError(CommerceError, ValueError):
    """An amount or currency is not acceptable (negative, unknown ISO 4217 code, too precise)."""
