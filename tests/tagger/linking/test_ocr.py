"""OCR (`RapidTextReader`): reads printed words, and gives the same answers when placements are linked
side by side in several threads (each read takes an engine of its own)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

pytest.importorskip("rapidocr_onnxruntime", reason="the `ocr` extra is not installed")

from tagger.linking.ocr import RapidTextReader, detector_side


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
    read = [
        " ".join(line.text for line in reader.read_lines(_label(word, width))).upper()
        for word, width in LABELS
    ]

    assert [word in text for (word, _), text in zip(LABELS, read, strict=True)] == [True] * len(LABELS)


def test_reads_in_several_threads_give_the_answers_of_one_thread(reader: RapidTextReader) -> None:
    images = [_label(word, width) for word, width in LABELS] * 2
    alone = [reader.read_lines(image) for image in images]

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(reader.read_lines, images))

    assert together == alone
    # An engine per read at once, kept for the next reads: at most 4 of each detector size (the
    # 300 px card is a small image, the others large ones).
    assert 2 <= reader.engines <= 8


@pytest.mark.parametrize("width", [300, 1400])  # the first is upscaled for the text detector
def test_a_line_is_placed_where_it_is_printed_in_the_images_own_pixels(
    reader: RapidTextReader, width: int
) -> None:
    """Two words side by side on a card; the line's ends and each word's place are in the pixels of
    the image given, whatever scale the text detector read it at."""
    height = width // 2
    image = np.full((height, width, 3), 255, np.uint8)
    scale = width / 300
    cv2.putText(image, "MILK OATS", (width // 10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3)
    ink = np.argwhere(image[..., 0] < 128)
    (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0)

    [line] = reader.read_lines(image)
    milk, oats = line.word_points(["milk", "oats"])

    assert line.text.upper().replace(" ", "") == "MILKOATS"
    for _x, y in (line.start, line.end):
        assert top - 0.2 * height <= y <= bottom + 0.2 * height
    assert abs(line.start[0] - left) < 0.1 * width
    assert abs(line.end[0] - right) < 0.1 * width
    middle = (left + right) / 2
    assert left <= milk[0] < middle < oats[0] <= right


def test_small_print_on_a_narrow_crop_is_read(reader: RapidTextReader) -> None:
    """A placement's crop from an HD frame is a tall, narrow box (a carton held upright): its text
    detector input is upscaled only to a 512 px short side (a small image's to 736), and words about
    25 px high on it are still read."""
    image = np.full((660, 235, 3), 255, np.uint8)
    cv2.putText(image, "MILK", (40, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)
    cv2.putText(image, "OATS", (40, 460), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)

    read = " ".join(line.text for line in reader.read_lines(image)).upper()

    assert "MILK" in read
    assert "OATS" in read
    # The index's feature signature names the sizes and the lines kept.
    assert reader.name.endswith("-det736<400,512@640-conf0.5")


def test_the_confidence_of_the_lines_kept_is_in_the_readers_name(
    reader: RapidTextReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines kept at another confidence are other words: an index read with them is rebuilt, not mixed
    with these reads."""
    name = reader.name
    monkeypatch.setattr("tagger.linking.ocr.MIN_OCR_CONFIDENCE", 0.6)

    assert reader.name != name
    assert reader.name.endswith("-conf0.6")


@pytest.mark.parametrize(
    ("longest", "side"),
    [(198, 736), (348, 736), (399, 736), (400, 512), (612, 512), (640, 512), (862, 512), (1920, 512)],
)
def test_small_images_are_read_at_the_larger_detector_size(longest: int, side: int) -> None:
    """Packshots and phone-photo crops (upscaled to 640 px first) keep RapidOCR's 736; crops of HD
    frames, even a small carton's under 640 px, are read at 512."""
    assert detector_side(longest) == side
