"""Pulling and verifying models: local folder, HTTP download (a loopback server), checksums."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tagger.exceptions import ModelChecksumError, ModelError
from tagger.models.registry import ModelState, ModelStatus, model_status, pull, verified_model_path
from tests.tagger.factories import card_header

WEIGHTS = b"pretend these are weights" * 1000
WEIGHTS_SHA = hashlib.sha256(WEIGHTS).hexdigest()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_given_weights_in_a_nested_local_folder_when_pulled_then_copied_and_verified(tmp_path: Path) -> None:
    source = tmp_path / "shared" / "models" / "tiny"
    source.mkdir(parents=True)
    (source / "tiny.onnx").write_bytes(WEIGHTS)
    card = card_header(sha256=WEIGHTS_SHA)

    path = pull(card, tmp_path / "models", source_dir=tmp_path / "shared")

    assert path == tmp_path / "models" / "tiny.onnx"
    assert model_status(card, tmp_path / "models") == ModelStatus(
        card=card, path=path, state=ModelState.OK, actual_sha256=WEIGHTS_SHA
    )


def test_given_local_file_with_other_checksum_when_pulled_then_refused_and_nothing_left(
    tmp_path: Path,
) -> None:
    (tmp_path / "tiny.onnx").write_bytes(b"something else")
    card = card_header(sha256=WEIGHTS_SHA)

    with pytest.raises(ModelChecksumError, match=f"does not match the model card's {WEIGHTS_SHA}"):
        pull(card, tmp_path / "models", source_dir=tmp_path)

    assert list((tmp_path / "models").iterdir()) == []


def test_given_a_url_when_pulled_then_downloaded_over_http(
    tmp_path: Path, http_root: tuple[str, Path]
) -> None:
    base, root = http_root
    (root / "tiny.onnx").write_bytes(WEIGHTS)
    card = card_header(sha256=WEIGHTS_SHA, url=f"{base}/tiny.onnx")

    path = pull(card, tmp_path / "models")

    assert path.read_bytes() == WEIGHTS


def test_given_a_url_serving_other_bytes_when_pulled_then_refused(
    tmp_path: Path, http_root: tuple[str, Path]
) -> None:
    base, root = http_root
    (root / "tiny.onnx").write_bytes(b"tampered")
    card = card_header(sha256=WEIGHTS_SHA, url=f"{base}/tiny.onnx")

    with pytest.raises(ModelChecksumError) as raised:
        pull(card, tmp_path / "models")

    assert raised.value.actual == hashlib.sha256(b"tampered").hexdigest()
    assert not (tmp_path / "models" / "tiny.onnx").exists()


def test_given_a_url_that_answers_404_when_pulled_then_model_error(
    tmp_path: Path, http_root: tuple[str, Path]
) -> None:
    base, _ = http_root
    card = card_header(sha256=WEIGHTS_SHA, url=f"{base}/missing.onnx")

    with pytest.raises(ModelError, match=r"download from .* failed"):
        pull(card, tmp_path / "models")


def test_given_no_url_and_no_folder_when_pulled_then_told_to_use_from(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="--from"):
        pull(card_header(sha256=WEIGHTS_SHA), tmp_path)


def test_given_missing_model_when_resolving_then_error_names_sha256_and_pull(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"sha256 {WEIGHTS_SHA}.*reelcart models pull tiny"):
        verified_model_path(card_header(sha256=WEIGHTS_SHA), tmp_path)


def test_given_corrupt_model_when_resolving_then_refused_with_both_checksums(tmp_path: Path) -> None:
    (tmp_path / "tiny.onnx").write_bytes(WEIGHTS[:-1])

    with pytest.raises(ModelChecksumError) as raised:
        verified_model_path(card_header(sha256=WEIGHTS_SHA), tmp_path)

    assert (raised.value.expected, raised.value.actual) == (
        WEIGHTS_SHA,
        hashlib.sha256(WEIGHTS[:-1]).hexdigest(),
    )
