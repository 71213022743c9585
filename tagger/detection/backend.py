"""The detector interface the pipeline depends on; ONNX Runtime is one implementation of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tagger.arrays import Image
from tagger.detections import Detections
from tagger.models.cards import DetectorSpec


class Detector(Protocol):
    """Finds boxes in BGR uint8 frames; one `Detections` per frame, in frame pixels."""

    @property
    def spec(self) -> DetectorSpec: ...

    @property
    def sha256(self) -> str: ...

    def detect(self, frames: Sequence[Image]) -> list[Detections]: ...
