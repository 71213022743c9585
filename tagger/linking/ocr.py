"""Reading text from crops. `TextReader` is the seam; `RapidTextReader` wraps rapidocr-onnxruntime
(its wheel ships the PP-OCRv4 models), imported lazily so linking works without the `ocr` extra."""

from __future__ import annotations

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
    """PP-OCRv4 through rapidocr-onnxruntime, one thread (linking runs beside decoding and detection)."""

    def __init__(self, *, threads: int = 1) -> None:
        from rapidocr_onnxruntime import RapidOCR  # noqa: PLC0415 - optional `ocr` extra

        self._engine: Any = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)

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
        result, _ = self._engine(image)
        lines = [(str(text), float(score)) for _, text, score in (result or [])]
        return [
            text for text, score in sorted(lines, key=lambda line: -line[1]) if score >= MIN_OCR_CONFIDENCE
        ]
