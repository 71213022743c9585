"""Reading text from crops. `TextReader` is the seam; `RapidTextReader` wraps rapidocr-onnxruntime
(its wheel ships the PP-OCRv4 models), imported lazily so linking works without the `ocr` extra."""

from __future__ import annotations

import threading
from typing import Any, Protocol

import cv2
import numpy as np

from tagger.arrays import Image

# PP-OCR's detector misses print under ~20 px high; small photos and packshots are upscaled to this.
OCR_MIN_SIDE_PX = 640
MIN_OCR_CONFIDENCE = 0.5


class TextReader(Protocol):
    @property
    def name(self) -> str: ...

    def read(self, image: Image) -> list[str]:
        """The text lines found in a BGR image, most confident first."""
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

        def make_engine() -> Any:
            return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)

        self._make_engine = make_engine
        self._idle: list[Any] = [make_engine()]  # one up front: a missing model fails at load, not mid-job
        self._lock = threading.Lock()

    @property
    def engines(self) -> int:
        """Engines made so far (idle ones; call between reads)."""
        with self._lock:
            return len(self._idle)

    def _run(self, image: Image) -> Any:
        with self._lock:
            engine = self._idle.pop() if self._idle else None
        if engine is None:
            engine = self._make_engine()
        try:
            result, _ = engine(image)
            return result
        finally:
            with self._lock:
                self._idle.append(engine)

    @property
    def name(self) -> str:
        return "rapidocr-onnxruntime-1.4.4/ppocrv4"

    def read(self, image: Image) -> list[str]:
        longest = max(image.shape[:2])
        if longest < OCR_MIN_SIDE_PX:
            factor = OCR_MIN_SIDE_PX / longest
            image = np.asarray(
                cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC), dtype=np.uint8
            )
        result = self._run(image)
        lines = [(str(text), float(score)) for _, text, score in (result or [])]
        return [
            text for text, score in sorted(lines, key=lambda line: -line[1]) if score >= MIN_OCR_CONFIDENCE
        ]
