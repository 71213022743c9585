"""OCR (`RapidTextReader`): reads printed words, and gives the same answers when placements are linked
side by side in several threads (each read takes an engine of its own)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

pytest.importorskip("rapidocr_onnxruntime", reason="the `ocr` extra is not installed")

from tagger.linking.ocr import RapidTextReader


def _label(word: str, width: int) -> np.ndarray:
    """A white card with one black word across it, `width` pixels wide (the reader rescales by size)."""
    height = width // 3
    image = np.full((height, width, 3), 255, np.uint8)
    scale = width / 260
    cv2.putText(image, word, (width // 12, height * 2 // 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3)
    return image


LABELS = [("MILK", 300), ("JUICE", 1400), ("OATS", 640), ("COFFEE", 900)]


@pytest.fixture(scope="module")
def reader() -> RapidTextReader:
    return RapidTextReader()


def test_the_reader_reads_printed_words(reader: RapidTextReader) -> None:
    read = [" ".join(reader.read(_label(word, width))).upper() for word, width in LABELS]

    assert [word in text for (word, _), text in zip(LABELS, read, strict=True)] == [True] * len(LABELS)


def test_reads_in_several_threads_give_the_answers_of_one_thread(reader: RapidTextReader) -> None:
    images = [_label(word, width) for word, width in LABELS] * 2
    alone = [reader.read(image) for image in images]

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(reader.read, images))

    assert together == alone
    assert 1 <= reader.engines <= 4  # an engine per read at once, kept for the next reads
