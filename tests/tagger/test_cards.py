from __future__ import annotations

from pathlib import Path

import pytest

from tagger.exceptions import ModelError
from tagger.models.cards import find_card, load_card, load_detector_spec
from tagger.settings import DEFAULT_MODEL_CARDS_DIR
from tests.tagger.factories import write_card


def test_the_default_detector_card_describes_yolox_nano() -> None:
    spec = load_detector_spec(find_card(DEFAULT_MODEL_CARDS_DIR, "yolox-nano"))

    assert (spec.card.file, spec.card.sha256, spec.card.licence) == (
        "yolox_nano.onnx",
        "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
        "Apache-2.0",
    )
    assert (spec.width, spec.height, spec.rgb, spec.scale, spec.pad_value, spec.letterbox_center) == (
        416,
        416,
        False,
        1.0,
        114,
        False,
    )
    assert (spec.layout, spec.strides, len(spec.class_names)) == ("yolox", (8, 16, 32), 80)
    assert (spec.fit_shape, spec.shape_multiple) == (True, 32)
    assert "person" not in spec.product_classes
    assert {"bottle", "handbag", "cell phone", "laptop", "teddy bear"} <= spec.product_classes


def test_every_card_in_the_repository_has_a_valid_header() -> None:
    names = [load_card(path).name for path in sorted(DEFAULT_MODEL_CARDS_DIR.glob("*.toml"))]

    assert "yolox-nano" in names
    assert len(names) == len(set(names))


def test_given_unknown_layout_when_loading_then_error_names_the_field(tmp_path: Path) -> None:
    card = write_card(tmp_path, layout="detr")

    with pytest.raises(ModelError, match="output layout must be one of"):
        load_detector_spec(card)


def test_given_product_class_not_among_names_when_loading_then_refused(tmp_path: Path) -> None:
    card = write_card(tmp_path, products=("bottle", "hat"))

    with pytest.raises(ModelError, match=r"not among the class names: \['hat'\]"):
        load_detector_spec(card)


def test_given_short_sha256_when_loading_then_refused(tmp_path: Path) -> None:
    card = write_card(tmp_path, sha256="abc")

    with pytest.raises(ModelError, match="64 hex digits"):
        load_card(card)


def test_given_a_path_as_file_when_loading_then_refused(tmp_path: Path) -> None:
    card = write_card(tmp_path, file="../../etc/passwd")

    with pytest.raises(ModelError, match="bare file name"):
        load_card(card)


def test_given_broken_toml_when_loading_then_model_error(tmp_path: Path) -> None:
    card = tmp_path / "broken.toml"
    card.write_text("name = [", encoding="utf-8")

    with pytest.raises(ModelError, match="not valid TOML"):
        load_card(card)


def test_given_unknown_name_when_finding_then_error_lists_known_names(tmp_path: Path) -> None:
    write_card(tmp_path, name="alpha")

    with pytest.raises(ModelError, match=r"no model card named 'beta' .*known: alpha"):
        find_card(tmp_path, "beta")


def test_given_a_card_without_input_shape_when_loading_then_the_input_is_fixed(tmp_path: Path) -> None:
    spec = load_detector_spec(write_card(tmp_path))

    assert (spec.fit_shape, spec.shape_multiple) == (False, 32)


def test_given_an_unknown_input_shape_when_loading_then_error_names_the_field(tmp_path: Path) -> None:
    path = write_card(tmp_path, input_extra='shape = "dynamic"')

    with pytest.raises(ModelError, match="input shape must be 'fixed' or 'fit', got 'dynamic'"):
        load_detector_spec(path)


def test_given_a_fit_card_whose_size_is_not_a_multiple_when_loading_then_refused(tmp_path: Path) -> None:
    path = write_card(tmp_path, size=40, input_extra='shape = "fit"\nmultiple = 32')

    with pytest.raises(ModelError, match="divisible by 32, got 40x40"):
        load_detector_spec(path)


def test_given_a_fit_card_without_multiple_when_loading_then_the_largest_stride_is_used(
    tmp_path: Path,
) -> None:
    spec = load_detector_spec(write_card(tmp_path, size=64, input_extra='shape = "fit"'))

    assert (spec.fit_shape, spec.shape_multiple) == (True, 32)
