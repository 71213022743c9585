"""Errors raised by SKU linking; they extend the tagger's tree so `api` maps them in one place."""

from __future__ import annotations

from tagger.exceptions import TaggerError


class LinkingError(TaggerError):
    """Base class for linking errors."""


class CatalogIndexError(LinkingError):
    """The catalog cannot be indexed as given: no usable images, duplicate SKUs, bad rows."""

    def __init__(self, message: str, *, sku: str | None = None) -> None:
        super().__init__(message)
        self.sku = sku


class IndexStoreError(LinkingError):
    """A stored catalog index is missing, corrupt or was built with other features."""

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message)
        self.location = location


class EvaluationInputError(LinkingError):
    """An evaluation CSV is missing, lacks columns, or names images that do not exist."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
