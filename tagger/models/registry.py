"""The local model registry: which carded models are in the model dir, fetching them, checking them.

A model file is only ever used after its sha256 matches its card; `pull` writes to a temporary file
and renames it into place only when the checksum matches, so a half or wrong download is never seen.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from tagger.exceptions import ModelChecksumError, ModelError
from tagger.models.cards import ModelCard, card_files, load_card

_CHUNK = 1 << 20


class ModelState(StrEnum):
    OK = "ok"
    MISSING = "missing"
    CORRUPT = "corrupt"


@dataclass(frozen=True, slots=True)
class ModelStatus:
    card: ModelCard
    path: Path
    state: ModelState
    actual_sha256: str | None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_cards(cards_dir: Path) -> list[ModelCard]:
    return [load_card(path) for path in card_files(cards_dir)]


def model_status(card: ModelCard, model_dir: Path) -> ModelStatus:
    path = model_dir / card.file
    if not path.is_file():
        return ModelStatus(card=card, path=path, state=ModelState.MISSING, actual_sha256=None)
    actual = sha256_file(path)
    state = ModelState.OK if actual == card.sha256 else ModelState.CORRUPT
    return ModelStatus(card=card, path=path, state=state, actual_sha256=actual)


def verified_model_path(card: ModelCard, model_dir: Path) -> Path:
    """The model file, after its sha256 matched the card; `ModelError` otherwise."""
    status = model_status(card, model_dir)
    if status.state is ModelState.MISSING:
        raise ModelError(
            f"model {card.name!r} is not in {model_dir} (expected {card.file}, sha256 {card.sha256}); "
            f"run `reelcart models pull {card.name}`"
        )
    if status.state is ModelState.CORRUPT:
        raise ModelChecksumError(str(status.path), card.sha256, status.actual_sha256 or "")
    return status.path


def pull(
    card: ModelCard, model_dir: Path, *, source_dir: Path | None = None, timeout_s: float = 60.0
) -> Path:
    """Put the card's model into `model_dir`, from a local folder or the card's URL; checksum enforced."""
    if model_status(card, model_dir).state is ModelState.OK:
        return model_dir / card.file
    model_dir.mkdir(parents=True, exist_ok=True)
    if source_dir is not None:
        source = _find_in(source_dir, card)
        with source.open("rb") as handle:
            return _install(handle, card, model_dir, origin=str(source))
    if not card.url:
        raise ModelError(f"model {card.name!r} has no download URL; pull it with --from a local folder")
    if not card.url.startswith(("https://", "http://")):
        raise ModelError(f"model {card.name!r}: only http(s) URLs are fetched, got {card.url!r}")
    try:
        with urllib.request.urlopen(card.url, timeout=timeout_s) as response:  # noqa: S310 - scheme checked
            return _install(response, card, model_dir, origin=card.url)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise ModelError(f"model {card.name!r}: download from {card.url} failed: {error}") from error


def _find_in(source_dir: Path, card: ModelCard) -> Path:
    """The card's file anywhere under `source_dir` (../shared/models keeps one folder per model)."""
    if not source_dir.is_dir():
        raise ModelError(f"--from folder not found: {source_dir}")
    for candidate in _walk(source_dir, card.file):
        return candidate
    raise ModelError(f"model {card.name!r}: no file named {card.file} under {source_dir}")


def _walk(root: Path, name: str) -> Iterator[Path]:
    direct = root / name
    if direct.is_file():
        yield direct
    yield from sorted(path for path in root.rglob(name) if path.is_file() and path != direct)


def _install(stream: BinaryIO, card: ModelCard, model_dir: Path, *, origin: str) -> Path:
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(prefix=f".{card.file}.", suffix=".part", dir=model_dir)
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != card.sha256:
            raise ModelChecksumError(origin, card.sha256, actual)
        target = model_dir / card.file
        shutil.move(temporary, target)
        return target
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
