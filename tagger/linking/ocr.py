"""Reading text from crops. `TextReader` is the seam; `RapidTextReader` wraps rapidocr-onnxruntime
(its wheel ships the PP-OCRv4 models), imported lazily so linking works without the `ocr` extra."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from tagger.arrays import FloatArray, Image
from tagger.linking.text import fold

# PP-OCR's detector misses print under ~20 px high; small photos and packshots are upscaled to this.
OCR_MIN_SIDE_PX = 640
# The text detector reads an image whose short side is below this upscaled to it: RapidOCR's default
# for a small image (a phone photo's crop or a packshot, upscaled to OCR_MIN_SIDE_PX first), whose print
# is a few pixels high ...
SMALL_IMAGE_DETECTOR_SIDE_PX = 736
# ... and less for a large one (a crop of an HD frame, its print already many pixels high). The
# detector's cost grows with the pixels, and a placement's crop is a tall, narrow box: at 736 a 657 x 235
# carton was read at 2058 x 736, and OCR was a quarter of a tag job's CPU time. On the episode benchmark's
# 64 placements the words of the right SKU's catalog text read on the best crop were 102 at 736, 102 at
# 600, 103 at 512, 104 at 448 and 98 at 384 (not upscaled at all: 96), and at 512 the reads cost 46 %
# less. Small images keep 736: at 512 for them too, grocery-dev's packaged photos (detector crops)
# lost top-5 0.970 -> 0.957 (BENCHMARKS.md, End to end).
LARGE_IMAGE_DETECTOR_SIDE_PX = 512
# Which images are small: shorter than this on their longest side. Those photos are 348 px (their
# crops smaller) and grocery-dev's packshots 198 px: a shelf shot or a studio picture whose print is a
# few pixels high. A held product's crop of an HD frame can be shorter than OCR_MIN_SIDE_PX too (the
# episode benchmark's shortest were 350-625 px: a small carton, or a bottle held at arm's length), but
# it is the product alone, its print larger: those 20 crops read 22 words of the right SKU's text at
# 736 and 21 at 512, for 45 % less CPU. The line sits between grocery-dev's images and 17 of them.
# It holds for catalog images too: grocery-dev's 31 packaged packshots scaled to 450 px read 118 words
# at 736 and 114 at 512, scaled to 600 px 115 and 114 (a packshot is squarer than a held carton's
# crop, so it saves less there: 18 %).
SMALL_IMAGE_MAX_SIDE_PX = 400
MIN_OCR_CONFIDENCE = 0.5


def detector_side(longest: int) -> int:
    """The short side the text detector reads an image at (at least; RapidOCR upscales to it) by the
    image's longest side before OCR_MIN_SIDE_PX's upscale: small images need more upscaling."""
    return SMALL_IMAGE_DETECTOR_SIDE_PX if longest < SMALL_IMAGE_MAX_SIDE_PX else LARGE_IMAGE_DETECTOR_SIDE_PX


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text and where it is: `start` and `end` are the middle of its left and right edges
    in the read image's pixels (a word's place along the line follows from its characters' offset)."""

    text: str
    confidence: float
    start: tuple[float, float]
    end: tuple[float, float]

    def word_points(self, words: list[str]) -> FloatArray:
        """Where each of `words` (found in this line's text, in order) sits: its middle along the line,
        by character offset. A word not found in the text is put at the line's middle."""
        folded, origin = _folded_with_origin(self.text)
        length = max(1, len(self.text))
        start, end = np.asarray(self.start, np.float32), np.asarray(self.end, np.float32)
        points = np.zeros((len(words), 2), np.float32)
        cursor = 0
        for position, word in enumerate(words):
            found = folded.find(word, cursor)
            if found < 0 or not word:
                middle = 0.5
            else:
                first, last = origin[found], origin[found + len(word) - 1]
                middle = (first + last + 1) / 2 / length
                cursor = found + len(word)
            points[position] = start + middle * (end - start)
        return points


def _folded_with_origin(text: str) -> tuple[str, list[int]]:
    """The text folded as `normalize_words` folds it (`text.fold`), and for each folded character the
    offset of the character it came from, so a normalized word found in it is placed where it is
    printed."""
    folded: list[str] = []
    origin: list[int] = []
    for offset, char in enumerate(text):
        ascii_part = fold(char)
        folded.append(ascii_part)
        origin.extend([offset] * len(ascii_part))
    return "".join(folded), origin


class TextReader(Protocol):
    @property
    def name(self) -> str: ...

    def read_lines(self, image: Image) -> list[TextLine]:
        """The text lines found in a BGR image with their places, most confident first."""
        ...


class RapidTextReader:
    """PP-OCRv4 through rapidocr-onnxruntime, one thread per read (linking runs beside decoding and
    detection).

    RapidOCR keeps per-call state on its engine (the text detector's resize for the image size), so an
    engine reads one image at a time. Reads in several threads (placements linked side by side) each
    take an engine of their own from a pool that grows to the most reads ever made at once: OCR is
    about two thirds of linking a placement, so one shared engine behind a lock would serialize it."""

    def __init__(self, *, threads: int = 1) -> None:
        from rapidocr_onnxruntime import RapidOCR  # noqa: PLC0415 - optional `ocr` extra

        def make_engine(side: int) -> Any:
            return RapidOCR(
                intra_op_num_threads=threads,
                inter_op_num_threads=1,
                det_limit_type="min",
                det_limit_side_len=side,
            )

        self._make_engine = make_engine
        # Idle engines by the text detector's short side (small and large images, see above); one up
        # front, so a missing model fails at load, not mid-job.
        self._idle: dict[int, list[Any]] = {
            SMALL_IMAGE_DETECTOR_SIDE_PX: [make_engine(SMALL_IMAGE_DETECTOR_SIDE_PX)],
            LARGE_IMAGE_DETECTOR_SIDE_PX: [],
        }
        self._lock = threading.Lock()

    @property
    def engines(self) -> int:
        """Engines made so far, of both detector sizes (idle ones; call between reads)."""
        with self._lock:
            return sum(len(idle) for idle in self._idle.values())

    def _run(self, image: Image, side: int) -> Any:
        with self._lock:
            idle = self._idle[side]
            engine = idle.pop() if idle else None
        if engine is None:
            engine = self._make_engine(side)
        try:
            result, _ = engine(image)
            return result
        finally:
            with self._lock:
                self._idle[side].append(engine)

    @property
    def name(self) -> str:
        # Part of the catalog index's feature signature: an index read at other detector sizes, or
        # keeping lines at another confidence, is rebuilt, not mixed with these reads.
        return (
            "rapidocr-onnxruntime-1.4.4/ppocrv4"
            f"-det{SMALL_IMAGE_DETECTOR_SIDE_PX}<{SMALL_IMAGE_MAX_SIDE_PX},{LARGE_IMAGE_DETECTOR_SIDE_PX}"
            f"@{OCR_MIN_SIDE_PX}-conf{MIN_OCR_CONFIDENCE:g}"
        )

    def read_lines(self, image: Image) -> list[TextLine]:
        longest = max(image.shape[:2])
        factor = 1.0
        if longest < OCR_MIN_SIDE_PX:
            factor = OCR_MIN_SIDE_PX / longest
            image = np.asarray(
                cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC), dtype=np.uint8
            )
        result = self._run(image, detector_side(longest))
        lines = [_line(box, str(text), float(score), factor) for box, text, score in (result or [])]
        confident = [line for line in lines if line.confidence >= MIN_OCR_CONFIDENCE]
        return sorted(confident, key=lambda line: -line.confidence)


def _line(box: Any, text: str, score: float, factor: float) -> TextLine:
    """RapidOCR's quadrilateral (top-left, top-right, bottom-right, bottom-left, in the upscaled image)
    as a line from the middle of its left edge to the middle of its right edge, in the image's pixels."""
    corners = np.asarray(box, dtype=np.float64).reshape(4, 2) / factor
    start = (corners[0] + corners[3]) / 2
    end = (corners[1] + corners[2]) / 2
    return TextLine(text, score, (float(start[0]), float(start[1])), (float(end[0]), float(end[1])))
