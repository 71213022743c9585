"""Errors raised by the vision pipeline. `api` maps them to HTTP; here they only carry context."""

from __future__ import annotations


class TaggerError(Exception):
    """Base class for every error the tagger raises on purpose."""


class VideoError(TaggerError):
    """A media file cannot be used: missing, empty, not a video, or broken part-way."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ModelError(TaggerError):
    """A model card or model file is missing, malformed or fails its checksum."""


class ModelChecksumError(ModelError):
    """A model file's sha256 differs from the one its card pins: refused, never loaded."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(f"{path}: sha256 {actual} does not match the model card's {expected}; refusing it")
        self.path = path
        self.expected = expected
        self.actual = actual
