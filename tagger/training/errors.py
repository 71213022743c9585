"""Errors of detector training; subclasses of the tagger's tree so callers catch one base."""

from __future__ import annotations

from tagger.exceptions import TaggerError


class TrainingError(TaggerError):
    """Training cannot start or did not finish: no packshots, no backgrounds, the trainer failed."""


class PackshotError(TrainingError):
    """A packshot cannot be read as an image."""
