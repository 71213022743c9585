"""The synthetic training set: cut-outs, labels that fit what was pasted, determinism, bad packshots."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tagger.training.backgrounds import load_backgrounds
from tagger.training.cutout import cut_out, read_packshot
from tagger.training.errors import PackshotError, TrainingError
from tagger.training.synthetic import ProductShots, SyntheticConfig, build_dataset, compose, load_cutouts
from tests.tagger.factories import write_video
from tests.tagger.training.packshots import backgrounds, packshot, write_products

SMALL = SyntheticConfig(image_size=96, train_per_class=3, val_per_class=1, seed=3)


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_given_product_on_white_when_cut_out_then_mask_is_the_product_only() -> None:
    image = packshot((40, 120, 200), size=200)

    cutout = cut_out(image)

    # The carton spans x 50..150, y 25..175 of the packshot; the cut-out is cropped to it.
    assert not cutout.whole_rectangle
    assert abs(cutout.image.shape[1] - 100) <= 4
    assert abs(cutout.image.shape[0] - 150) <= 4
    # Its white "MILK" print is inside the product: the hole is filled, not cut away.
    assert float(np.mean(cutout.alpha >= 128)) > 0.97


def test_given_transparent_png_when_cut_out_then_its_alpha_is_the_mask(tmp_path: Path) -> None:
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[20:60, 30:90] = (10, 200, 30, 255)
    path = tmp_path / "shot.png"
    cv2.imwrite(str(path), rgba)

    cutout = cut_out(*read_packshot(path))

    assert cutout.image.shape[:2] == (40, 60)
    assert not cutout.whole_rectangle


def test_given_photo_without_plain_background_when_cut_out_then_whole_picture_is_kept() -> None:
    noise = np.random.default_rng(0).integers(0, 256, size=(80, 120, 3), dtype=np.uint8)

    cutout = cut_out(noise)

    assert cutout.whole_rectangle
    assert cutout.image.shape == (80, 120, 3)
    assert int(cutout.alpha.min()) == 255


@pytest.mark.parametrize("content", [b"", b"not an image at all"])
def test_given_unreadable_packshot_when_read_then_packshot_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(content)

    with pytest.raises(PackshotError, match=r"broken\.jpg"):
        read_packshot(path)


def test_given_tiny_packshot_when_read_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "tiny.png"
    cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))

    with pytest.raises(PackshotError, match="smaller than"):
        read_packshot(path)


def test_given_one_unreadable_of_two_packshots_when_loaded_then_skipped_with_reason(tmp_path: Path) -> None:
    good = write_products(tmp_path, 1)[0]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"junk")

    cutouts, skipped = load_cutouts([ProductShots("SKU-0", (bad, *good.packshots))])

    assert len(cutouts[0]) == 1
    assert len(skipped) == 1
    assert "bad.jpg" in skipped[0]


def test_given_product_whose_only_packshot_is_unreadable_when_built_then_training_error(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"junk")

    with pytest.raises(TrainingError, match="no readable packshot"):
        build_dataset([ProductShots("SKU-0", (bad,))], backgrounds(2), tmp_path / "out", SMALL)


def test_given_no_products_when_built_then_training_error(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no products"):
        build_dataset([], backgrounds(2), tmp_path / "out", SMALL)


def test_given_products_when_built_then_yolo_dataset_with_a_label_per_visible_product(tmp_path: Path) -> None:
    products = write_products(tmp_path / "shots", 3)

    summary = build_dataset(products, backgrounds(6), tmp_path / "out", SMALL)

    assert (summary.train_images, summary.val_images) == (9, 3)
    assert summary.classes == ("SKU-0", "SKU-1", "SKU-2")
    assert (summary.train_backgrounds, summary.val_backgrounds) == (5, 1)
    data = summary.data_yaml.read_text(encoding="utf-8")
    assert 'names: ["SKU-0", "SKU-1", "SKU-2"]' in data
    assert json.loads(data.splitlines()[0].removeprefix("path: ")) == str((tmp_path / "out").resolve())
    for split, count in (("train", 9), ("val", 3)):
        images = sorted((tmp_path / "out" / "images" / split).glob("*.jpg"))
        labels = sorted((tmp_path / "out" / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == count
        for label in labels:
            rows = [line.split() for line in label.read_text(encoding="utf-8").splitlines()]
            assert rows, f"{label.name}: the main product is always pasted and mostly visible"
            for row in rows:
                values = [float(v) for v in row[1:]]
                assert int(row[0]) in (0, 1, 2)
                assert all(0.0 <= v <= 1.0 for v in values)
    assert summary.train_instances >= 9


def test_given_same_seed_when_built_twice_then_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    products = write_products(tmp_path / "shots", 2)

    build_dataset(products, backgrounds(4), tmp_path / "a", SMALL)
    build_dataset(products, backgrounds(4), tmp_path / "b", SMALL)
    other = SyntheticConfig(image_size=96, train_per_class=3, val_per_class=1, seed=4)
    build_dataset(products, backgrounds(4), tmp_path / "c", other)

    def images(name: str) -> str:
        return _digest(tmp_path / name / "images")

    assert images("a") == images("b")
    assert images("a") != images("c")


def test_given_one_product_on_plain_background_when_composed_then_label_box_matches_pasted_pixels() -> None:
    red = np.zeros((120, 80, 3), np.uint8)
    red[:] = (0, 0, 255)
    cutouts = [[cut_out(np.pad(red, ((20, 20), (20, 20), (0, 0)), constant_values=255))]]
    config = SyntheticConfig(
        image_size=128, hand_probability=0.0, blur_probability=0.0, edge_probability=0.0, max_rotation_deg=0.0
    )
    grey = [np.full((200, 200, 3), 128, np.uint8)]

    image, labels = compose(0, cutouts, grey, np.random.default_rng(1), config)

    assert len(labels) == 1
    _, cx, cy, w, h = labels[0]
    # Where the picture is clearly red is inside the labelled box, and fills most of it.
    red_mask = (image[:, :, 2] > 180) & (image[:, :, 1] < 90)
    ys, xs = np.nonzero(red_mask)
    assert xs.min() >= (cx - w / 2) * 128 - 1
    assert xs.max() <= (cx + w / 2) * 128 + 1
    assert ys.min() >= (cy - h / 2) * 128 - 1
    assert ys.max() <= (cy + h / 2) * 128 + 1
    assert red_mask.sum() > 0.6 * (w * 128) * (h * 128)


def test_given_no_backgrounds_when_built_then_procedural_ones_are_used_and_said(tmp_path: Path) -> None:
    products = write_products(tmp_path / "shots", 1)

    summary = build_dataset(products, [], tmp_path / "out", SMALL)

    assert summary.procedural_backgrounds
    assert summary.train_images == 3


def test_given_video_and_photo_when_backgrounds_loaded_then_frames_spread_and_photo_kept(
    tmp_path: Path,
) -> None:
    frames = [np.full((64, 96, 3), 10 * i, np.uint8) for i in range(20)]
    write_video(tmp_path / "clip.mp4", frames, fps=10)
    cv2.imwrite(str(tmp_path / "photo.jpg"), np.full((50, 50, 3), 200, np.uint8))
    (tmp_path / "notes.txt").write_text("not a picture", encoding="utf-8")

    loaded = load_backgrounds([tmp_path], frames_per_video=4)

    assert len(loaded) == 5
    means = [float(frame.mean()) for frame in loaded[:4]]
    assert means == pytest.approx([0, 60, 130, 190], abs=4)


@pytest.mark.parametrize("size", [100, 330])
def test_an_image_size_off_the_detector_stride_is_refused_before_anything_is_drawn(size: int) -> None:
    # ultralytics would round it up and train another size than the card would then state.
    with pytest.raises(ValueError, match="multiple of 32"):
        SyntheticConfig(image_size=size)
