"""Factories for tagger tests: tiny videos written with PyAV, tiny ONNX detectors, model cards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tagger.arrays import Image
from tagger.detections import Detections
from tagger.linking.decision import Decision
from tagger.linking.linker import LinkResult, SkuCandidate
from tagger.models.cards import DetectorSpec, ModelCard, load_detector_spec

RED = (0, 0, 255)
BLUE = (255, 0, 0)


@dataclass(frozen=True)
class Square:
    """A coloured square drawn on a frame (pixel coordinates of its top-left corner)."""

    x: int
    y: int
    side: int
    colour: tuple[int, int, int] = RED


def frame_with(width: int, height: int, squares: Sequence[Square], background: int = 90) -> Image:
    image = np.full((height, width, 3), background, dtype=np.uint8)
    # A gentle texture so the encoder and cut detector see real content, not a flat field.
    image[::8, :, :] = background + 20
    for square in squares:
        image[square.y : square.y + square.side, square.x : square.x + square.side] = square.colour
    return image


def write_video(
    path: Path,
    frames: Sequence[Image],
    *,
    fps: int = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int = 0,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode BGR frames; `pts` (in `time_base`) makes a variable-frame-rate file."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream: Any = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        stream.options = options or ({"preset": "ultrafast", "bf": "2"} if codec == "libx264" else {})
        if rotation:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            if pts is not None:
                frame.pts = pts[i]
                frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream: Any = container.add_stream("pcm_s16le", rate=8000)
        samples = np.zeros((1, 800), dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


class CountingDetector:
    """A test detector's card and the number of frames it has been shown."""

    def __init__(self, spec: DetectorSpec) -> None:
        self._spec = spec
        self.calls = 0

    @property
    def spec(self) -> DetectorSpec:
        return self._spec

    @property
    def sha256(self) -> str:
        return self._spec.card.sha256

    def detect(self, frames: Sequence[Image]) -> list[Detections]:
        self.calls += len(frames)
        return [self._one(frame) for frame in frames]

    def _one(self, frame: Image) -> Detections:
        raise NotImplementedError


class FixedDetector(CountingDetector):
    """A detector that finds `found` in every frame."""

    def __init__(self, spec: DetectorSpec, found: Detections) -> None:
        super().__init__(spec)
        self._found = found

    def _one(self, frame: Image) -> Detections:
        return self._found


class ColourDetector(CountingDetector):
    """A real (if simple) detector for synthetic videos: every saturated red or blue blob is a box.

    Red squares are class 0 ("bottle"), blue ones class 1 ("cup"); confidence 0.9.
    """

    def _one(self, frame: Image) -> Detections:
        boxes, classes = [], []
        channels = frame.astype(np.int16)
        for class_id, (strong, weak) in enumerate(((2, 0), (0, 2))):
            mask = (channels[..., strong] > 180) & (channels[..., weak] < 80) & (channels[..., 1] < 80)
            ys, xs = np.nonzero(mask)
            if xs.size > 16:
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                classes.append(class_id)
        if not boxes:
            return Detections.empty()
        return Detections(
            xyxy=np.array(boxes, dtype=np.float32),
            confidence=np.full(len(boxes), 0.9, dtype=np.float32),
            class_id=np.array(classes, dtype=np.int64),
        )


TINY_CLASSES = ("bottle", "cup", "person")


def write_card(
    cards_dir: Path,
    *,
    name: str = "tiny",
    file: str = "tiny.onnx",
    sha256: str = "0" * 64,
    layout: str = "yolox",
    size: int = 32,
    url: str | None = None,
    channel_order: str = "BGR",
    scale: float = 1.0,
    letterbox: str = "top-left",
    classes: Sequence[str] = TINY_CLASSES,
    products: Sequence[str] = ("bottle", "cup"),
    strides: Sequence[int] = (8, 16, 32),
    input_extra: str = "",
) -> Path:
    cards_dir.mkdir(parents=True, exist_ok=True)
    url_line = f'url = "{url}"\n' if url else ""
    quoted = ", ".join(f'"{c}"' for c in classes)
    quoted_products = ", ".join(f'"{c}"' for c in products)
    path = cards_dir / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nkind = "detector"\nfile = "{file}"\nsha256 = "{sha256}"\n'
        f'licence = "MIT"\n{url_line}'
        f'[input]\nname = "images"\nwidth = {size}\nheight = {size}\nchannel_order = "{channel_order}"\n'
        f'scale = {scale}\npad_value = 114\nletterbox = "{letterbox}"\n{input_extra}\n'
        f'[output]\nlayout = "{layout}"\nstrides = [{", ".join(map(str, strides))}]\n'
        f"[classes]\nnames = [{quoted}]\nproducts = [{quoted_products}]\n",
        encoding="utf-8",
    )
    return path


def tiny_spec(tmp_path: Path, **card: object) -> DetectorSpec:
    return load_detector_spec(write_card(tmp_path / "cards", **card))  # type: ignore[arg-type]


def constant_output_model(
    path: Path,
    output: np.ndarray,
    *,
    size: int = 32,
    batch: int | str = 1,
    metadata: dict[str, str] | None = None,
) -> Path:
    """An ONNX graph whose output is `output` whatever the image: known tensors through the real runtime.

    The input still flows into the output (times zero) so ONNX Runtime really reads the image.
    """
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, size, size])
    result = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, *output.shape[1:]])
    nodes = [
        helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["constant", "nothing"], ["output"]),
    ]
    initializers = [
        numpy_helper.from_array(output.astype(np.float32), "constant"),
        numpy_helper.from_array(np.zeros((), dtype=np.float32), "zero"),
    ]
    graph = helper.make_graph(nodes, "constant", [image], [result], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def brightness_yolox_model(path: Path, *, size: int = 32, stride: int = 8, classes: int = 3) -> Path:
    """A fully convolutional YOLOX-layout graph with one head: each stride x stride cell's
    objectness is its mean brightness (0-1), every box is one cell, and the class scores are fixed
    (0.9 for class 1). Its input is *declared* fixed at `size` x `size`, as YOLOX-Nano's is.
    """
    channels = 5 + classes
    weight = np.zeros((channels, 3, stride, stride), dtype=np.float32)
    weight[4] = 1.0 / (3 * stride * stride * 255.0)
    bias = np.zeros(channels, dtype=np.float32)
    bias[0:2] = 0.5  # box centre in the middle of its cell
    bias[5 + 1] = 0.9
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])
    anchors = (size // stride) ** 2
    result = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, anchors, channels])
    nodes = [
        helper.make_node("Conv", ["images", "weight", "bias"], ["cells"], strides=[stride, stride]),
        helper.make_node("Reshape", ["cells", "flat_shape"], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["output"], perm=[0, 2, 1]),
    ]
    initializers = [
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(bias, "bias"),
        numpy_helper.from_array(np.array([1, channels, -1], dtype=np.int64), "flat_shape"),
    ]
    graph = helper.make_graph(nodes, "brightness", [image], [result], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model)  # fixed-size value_info, as real exports carry
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def card_header(name: str = "tiny", sha256: str = "0" * 64, url: str | None = None) -> ModelCard:
    return ModelCard(
        name=name,
        kind="detector",
        file=f"{name}.onnx",
        sha256=sha256,
        licence="MIT",
        url=url,
        card_path=Path("x"),
    )


def link_result(
    sku: str | None,
    title: str,
    confidence: float,
    decision: Decision,
    *,
    crops_used: int = 1,
    index_version: str = "v1",
) -> LinkResult:
    """A linker's answer with one candidate (`sku`, or an unnamed one when the SKU is None)."""
    return LinkResult(
        candidates=(SkuCandidate(sku or "SKU-1", title, confidence),),
        sku=sku,
        confidence=confidence,
        unknown_probability=1.0 - confidence,
        decision=decision,
        index_version=index_version,
        crops_used=crops_used,
    )


def trained_brand_card(folder: Path, output: np.ndarray, classes: Sequence[str]) -> Path:
    """A brand detector as a train job leaves it: an ultralytics-layout model (32x32, centred letterbox)
    that always answers `output`, and its card beside it naming `classes` (each a product)."""
    from tagger.models.registry import sha256_file  # noqa: PLC0415 - only these tests need it

    model = constant_output_model(folder / "brand-acme-1.onnx", output, size=32)
    return write_card(
        folder,
        name="brand-acme-1",
        file=model.name,
        sha256=sha256_file(model),
        layout="ultralytics",
        channel_order="RGB",
        scale=1 / 255,
        letterbox="center",
        classes=tuple(classes),
        products=tuple(classes),
    )


def printed_face(side: int, seed: int = 7) -> Image:
    """A printed pack's face, `side` pixels square: blobs of ink at several scales, which SIFT finds
    keypoints on (a flat square has none)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    face = cv2.resize(noise, (side, side), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):
        x, y = (int(v) for v in rng.integers(5, side - 5, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(face, (x, y), int(rng.integers(3, 10)), colour, -1)
    return np.asarray(face, dtype=np.uint8)


def carried_frames(
    positions: Sequence[tuple[int, int] | None], face: Image, width: int, height: int
) -> list[Image]:
    """Frames of a faint backdrop with `face` at each position (its top left corner; None: not shown)."""
    side = face.shape[0]
    frames = []
    for position in positions:
        frame = np.full((height, width, 3), 120, dtype=np.uint8)
        frame[::8, :, :] = 140  # a faint backdrop, so the encoder sees content
        if position is not None:
            x, y = position
            frame[y : y + side, x : x + side] = face
        frames.append(frame)
    return frames
