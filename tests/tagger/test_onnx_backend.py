"""The ONNX Runtime backend end to end on tiny graphs whose outputs are known tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagger.detection.onnx_backend import OnnxDetector
from tagger.detections import Detections
from tagger.exceptions import ModelError
from tests.tagger.factories import brightness_yolox_model, constant_output_model, tiny_spec


def yolox_output() -> np.ndarray:
    raw = np.zeros((1, 21, 8), dtype=np.float32)
    raw[0, :, 2:4] = 0.0
    # stride 8, cell (x=1, y=1): centre (12, 12), 16 x 8 box; objectness 1, "cup" 0.9.
    raw[0, 5] = [0.5, 0.5, np.log(2.0), 0.0, 1.0, 0.1, 0.9, 0.0]
    # The same place as a "person" (not a product): filtered out by the card's product classes.
    raw[0, 6] = [0.5, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.95]
    return raw


def test_given_yolox_card_when_detecting_then_boxes_come_back_in_frame_pixels(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, layout="yolox")
    model = constant_output_model(tmp_path / "tiny.onnx", yolox_output())
    detector = OnnxDetector(spec, model, classes=spec.product_class_ids, confidence_threshold=0.3)
    # A 64x128 portrait frame fits a 32x32 input at ratio 0.25, top-left.
    frame = np.zeros((128, 64, 3), dtype=np.uint8)

    (found,) = detector.detect([frame])

    assert found == Detections(
        xyxy=np.array([[16.0, 32.0, 64.0, 64.0]], dtype=np.float32),
        confidence=np.array([0.9], dtype=np.float32),
        class_id=np.array([1]),
    )


def test_given_ultralytics_card_and_dynamic_batch_when_detecting_two_frames_then_one_result_each(
    tmp_path: Path,
) -> None:
    spec = tiny_spec(tmp_path, layout="ultralytics", channel_order="RGB", scale=1 / 255, letterbox="center")
    raw = np.zeros((2, 7, 2), dtype=np.float32)
    raw[:, :, 0] = [16, 16, 8, 8, 0.8, 0.0, 0.0]  # a "bottle" in the middle of the input
    model = constant_output_model(tmp_path / "tiny.onnx", raw, batch="N")
    detector = OnnxDetector(spec, model, confidence_threshold=0.5)
    # 64x32 landscape: ratio 0.5, centred with 8 px of padding above and below.
    frame = np.zeros((32, 64, 3), dtype=np.uint8)

    results = detector.detect([frame, frame])

    expected = Detections(
        xyxy=np.array([[24.0, 8.0, 40.0, 24.0]], dtype=np.float32),
        confidence=np.array([0.8], dtype=np.float32),
        class_id=np.array([0]),
    )
    assert results == [expected, expected]


def test_given_output_with_other_class_count_than_card_when_detecting_then_model_error(
    tmp_path: Path,
) -> None:
    spec = tiny_spec(tmp_path, layout="ultralytics")
    model = constant_output_model(tmp_path / "tiny.onnx", np.zeros((1, 9, 4), dtype=np.float32))
    detector = OnnxDetector(spec, model)

    with pytest.raises(ModelError, match="scores 5 classes, its card names 3"):
        detector.detect([np.zeros((32, 32, 3), dtype=np.uint8)])


def test_given_metadata_names_disagreeing_with_card_when_loading_then_refused(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, layout="ultralytics")
    model = constant_output_model(
        tmp_path / "tiny.onnx", np.zeros((1, 7, 4), dtype=np.float32), metadata={"names": "{0: 'a', 1: 'b'}"}
    )

    with pytest.raises(ModelError, match="metadata names 2 classes"):
        OnnxDetector(spec, model)


def test_given_input_size_other_than_card_when_loading_then_refused(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, size=64)
    model = constant_output_model(tmp_path / "tiny.onnx", yolox_output())

    with pytest.raises(ModelError, match="input is 32x32, its card says 64x64"):
        OnnxDetector(spec, model)


def test_given_unavailable_provider_when_loading_then_refused_naming_what_is_available(
    tmp_path: Path,
) -> None:
    spec = tiny_spec(tmp_path)
    model = constant_output_model(tmp_path / "tiny.onnx", yolox_output())

    with pytest.raises(ModelError, match=r"NoSuchExecutionProvider not available here \(available: .*CPU"):
        OnnxDetector(spec, model, providers=["NoSuchExecutionProvider"])


def test_given_a_file_that_is_not_onnx_when_loading_then_model_error(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path)
    model = tmp_path / "tiny.onnx"
    model.write_bytes(b"not a protobuf at all")

    with pytest.raises(ModelError, match="ONNX Runtime cannot load it"):
        OnnxDetector(spec, model)


def test_given_a_fit_card_and_a_file_that_is_not_onnx_when_loading_then_model_error(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, input_extra='shape = "fit"')
    model = tmp_path / "tiny.onnx"
    model.write_bytes(b"not a protobuf at all")

    with pytest.raises(ModelError, match=r"tiny\.onnx: not an ONNX graph"):
        OnnxDetector(spec, model)


def portrait_with_white_square() -> np.ndarray:
    """64x128 portrait; a white square at frame pixels x 0-32, y 64-96: at ratio 0.25, exactly the
    stride-8 cell that is first across and third down."""
    frame = np.zeros((128, 64, 3), dtype=np.uint8)
    frame[64:96, 0:32] = 255
    return frame


@pytest.mark.parametrize(
    ("input_extra", "network_input"),
    [
        # The graph declares a fixed 32x32 input; a "fit" card says it is fully convolutional, so the
        # portrait runs at 16x32 (one cell across, four down) instead of being padded to 32x32.
        ('shape = "fit"', (16, 32)),
        ("", (32, 32)),
    ],
)
def test_given_fit_or_fixed_card_when_detecting_a_portrait_then_same_box_from_the_right_input_size(
    tmp_path: Path, input_extra: str, network_input: tuple[int, int]
) -> None:
    spec = tiny_spec(tmp_path, strides=(8,), input_extra=input_extra)
    model = brightness_yolox_model(tmp_path / "tiny.onnx", size=32, stride=8)
    detector = OnnxDetector(spec, model, classes=spec.product_class_ids, confidence_threshold=0.5)

    (found,) = detector.detect([portrait_with_white_square()])

    assert detector.input_size(64, 128) == network_input
    assert found.class_id.tolist() == [1]
    np.testing.assert_allclose(found.xyxy, [[0.0, 64.0, 32.0, 96.0]])
    assert found.confidence[0] == pytest.approx(0.9, abs=0.05)


def test_given_a_fit_card_when_detecting_frames_of_two_shapes_at_once_then_each_at_its_own_input(
    tmp_path: Path,
) -> None:
    spec = tiny_spec(tmp_path, strides=(8,), input_extra='shape = "fit"')
    model = brightness_yolox_model(tmp_path / "tiny.onnx", size=32, stride=8)
    detector = OnnxDetector(spec, model, classes=spec.product_class_ids, confidence_threshold=0.5)
    landscape = np.ascontiguousarray(portrait_with_white_square().transpose(1, 0, 2))

    portrait_found, landscape_found = detector.detect([portrait_with_white_square(), landscape])

    assert (detector.input_size(64, 128), detector.input_size(128, 64)) == ((16, 32), (32, 16))
    np.testing.assert_allclose(portrait_found.xyxy, [[0.0, 64.0, 32.0, 96.0]])
    np.testing.assert_allclose(landscape_found.xyxy, [[64.0, 0.0, 96.0, 32.0]])


def test_given_a_fit_card_on_a_graph_that_is_not_convolutional_when_detecting_then_model_error(
    tmp_path: Path,
) -> None:
    # Its output always has the 21 anchors of a 32x32 input; at the fitted 16x32 it should have 10.
    spec = tiny_spec(tmp_path, layout="yolox", input_extra='shape = "fit"\nmultiple = 8')
    model = constant_output_model(tmp_path / "tiny.onnx", yolox_output())
    detector = OnnxDetector(spec, model, classes=spec.product_class_ids)

    with pytest.raises(ModelError, match="YOLOX output has shape"):
        detector.detect([np.zeros((128, 64, 3), dtype=np.uint8)])
