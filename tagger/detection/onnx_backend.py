"""ONNX Runtime detector: the one module that imports onnxruntime (lazily, so importing tagger is cheap)."""

from __future__ import annotations

import ast
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagger.arrays import Image
from tagger.detection.postprocess import decode_ultralytics, decode_yolox, nms, select
from tagger.detection.preprocess import fitted_input_size, letterbox, to_tensor
from tagger.detections import Detections
from tagger.exceptions import ModelError
from tagger.models.cards import DetectorSpec
from tagger.models.registry import sha256_file
from tagger.onnx_graph import free_image_size

# --device names the CLI accepts, mapped to ONNX Runtime execution providers.
DEVICE_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "coreml": ["CoreMLExecutionProvider", "CPUExecutionProvider"],
}


class OnnxDetector:
    """A carded detector run by ONNX Runtime; batches when the model's batch axis is dynamic."""

    def __init__(
        self,
        spec: DetectorSpec,
        model_path: Path,
        *,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        intra_op_threads: int = 0,
        confidence_threshold: float = 0.3,
        nms_iou_threshold: float = 0.45,
        max_detections: int = 100,
        classes: Collection[int] | None = None,
        sha256: str | None = None,
        class_agnostic_nms: bool = False,
    ) -> None:
        import onnxruntime as ort  # noqa: PLC0415 - keep the runtime out of `import tagger`

        available = ort.get_available_providers()
        missing = [name for name in providers if name not in available]
        if missing:
            raise ModelError(
                f"execution provider(s) {', '.join(missing)} not available here "
                f"(available: {', '.join(available)})"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        try:
            graph: str | bytes = free_image_size(model_path) if spec.fit_shape else str(model_path)
            self._session = ort.InferenceSession(graph, options, providers=list(providers))
        except ModelError:
            raise
        except Exception as error:  # ORT raises its own untyped exceptions for a bad graph
            raise ModelError(f"{model_path}: ONNX Runtime cannot load it: {error}") from error
        self._spec = spec
        self._sha256 = sha256 or sha256_file(model_path)
        self._classes = classes
        self._confidence_threshold = confidence_threshold
        self._nms_iou_threshold = nms_iou_threshold
        self._max_detections = max_detections
        self._class_agnostic = class_agnostic_nms
        model_input = self._session.get_inputs()[0]
        self._input_name = spec.input_name or model_input.name
        self._check_input(model_input.shape, model_path)
        self._check_metadata(model_path)
        batch_axis = model_input.shape[0]
        self._batchable = not isinstance(batch_axis, int) or batch_axis < 1

    @property
    def spec(self) -> DetectorSpec:
        return self._spec

    @property
    def sha256(self) -> str:
        return self._sha256

    def input_size(self, frame_width: int, frame_height: int) -> tuple[int, int]:
        """The network input (width, height) a frame of this size is letterboxed into."""
        spec = self._spec
        if not spec.fit_shape:
            return spec.width, spec.height
        return fitted_input_size(frame_width, frame_height, spec.width, spec.height, spec.shape_multiple)

    def detect(self, frames: Sequence[Image]) -> list[Detections]:
        if not frames:
            return []
        sizes = [self.input_size(frame.shape[1], frame.shape[0]) for frame in frames]
        boxed = [
            letterbox(
                frame, width, height, pad_value=self._spec.pad_value, center=self._spec.letterbox_center
            )
            for frame, (width, height) in zip(frames, sizes, strict=True)
        ]
        images = [image for image, _ in boxed]
        spec = self._spec
        if self._batchable and len(set(sizes)) == 1:
            raw = list(self._run(to_tensor(images, rgb=spec.rgb, scale=spec.scale)))
        else:  # one at a time: a fixed batch of one, or frames of other shapes fitted to other inputs
            raw = [self._run(to_tensor([image], rgb=spec.rgb, scale=spec.scale))[0] for image in images]
        results = []
        for output, frame, (width, height), (_, placement) in zip(raw, frames, sizes, boxed, strict=True):
            found = self._postprocess(output, width, height)
            restored = found.scaled(placement.ratio, (placement.pad_x, placement.pad_y))
            results.append(restored.clipped(frame.shape[1], frame.shape[0]))
        return results

    def _run(self, tensor: np.ndarray[Any, np.dtype[np.float32]]) -> np.ndarray[Any, np.dtype[np.float32]]:
        try:
            outputs = self._session.run(None, {self._input_name: tensor})
        except Exception as error:  # ORT's own exception types; a "fit" card on a graph that is not
            height, width = tensor.shape[2:]  # fully convolutional fails here, not at load
            raise ModelError(
                f"{self._spec.card.name}: ONNX Runtime failed on a {width}x{height} input "
                f"(card input shape {'fit' if self._spec.fit_shape else 'fixed'}): {error}"
            ) from error
        return np.asarray(outputs[0], dtype=np.float32)

    def _postprocess(
        self, output: np.ndarray[Any, np.dtype[np.float32]], width: int, height: int
    ) -> Detections:
        spec = self._spec
        try:
            if spec.layout == "yolox":
                boxes, scores = decode_yolox(output, width, height, spec.strides)
            else:
                boxes, scores = decode_ultralytics(output)
        except ValueError as error:  # the graph's output does not have the shape its card promises
            raise ModelError(f"{spec.card.name}: {error}") from error
        if scores.shape[1] != len(spec.class_names):
            raise ModelError(
                f"{spec.card.name}: the model scores {scores.shape[1]} classes, its card names "
                f"{len(spec.class_names)}"
            )
        candidates = select(
            boxes, scores, confidence_threshold=self._confidence_threshold, classes=self._classes
        )
        return nms(
            candidates, self._nms_iou_threshold, self._max_detections, class_agnostic=self._class_agnostic
        )

    def _check_input(self, shape: list[Any], model_path: Path) -> None:
        if len(shape) != 4:
            raise ModelError(f"{model_path}: expected a 4-D NCHW input, got shape {shape}")
        height, width = shape[2], shape[3]
        fixed = isinstance(height, int) and isinstance(width, int)
        if fixed and (height, width) != (self._spec.height, self._spec.width):
            raise ModelError(
                f"{model_path}: input is {width}x{height}, "
                f"its card says {self._spec.width}x{self._spec.height}"
            )

    def _check_metadata(self, model_path: Path) -> None:
        """Ultralytics exports carry their class names; a card that disagrees is refused."""
        metadata = self._session.get_modelmeta().custom_metadata_map
        names = metadata.get("names")
        if not names:
            return
        try:
            parsed = ast.literal_eval(names)
        except (ValueError, SyntaxError):
            return
        if isinstance(parsed, dict) and len(parsed) != len(self._spec.class_names):
            raise ModelError(
                f"{model_path}: ONNX metadata names {len(parsed)} classes, its card "
                f"{len(self._spec.class_names)}"
            )
