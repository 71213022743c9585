"""`reelcart eval episode`: what a brand's tag job does to a labelled episode, scored per shot."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings
from tagger.models.cards import find_card, load_card
from tagger.models.registry import pull
from tagger.settings import DEFAULT_MODEL_CARDS_DIR
from tagger.synthetic_episode import Joining, ShotSpec, render_episode
from tests.tagger.factories import constant_output_model, write_card
from tests.utils.api import make_video

REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # The command must not touch the configured database or media: point both at files that must
    # stay absent.
    monkeypatch.setenv("REELCART_DATABASE_URL", f"sqlite:///{tmp_path / 'configured.sqlite'}")
    monkeypatch.setenv("REELCART_MEDIA_DIR", str(tmp_path / "configured-media"))
    monkeypatch.setenv("REELCART_MODEL_DIR", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    assert not (tmp_path / "configured.sqlite").exists()
    assert not (tmp_path / "configured-media").exists()


def drawn_catalog(folder: Path) -> Path:
    image = np.full((64, 64, 3), 200, dtype=np.uint8)
    image[16:48, 16:48] = (0, 0, 255)
    cv2.imwrite(str(folder / "red.png"), image)
    catalog = folder / "catalog.csv"
    catalog.write_text("sku,title,price,currency,image\nRED-1,Red Box,9.90,SEK,red.png\n", encoding="utf-8")
    return catalog


def truth_file(folder: Path, document: object) -> Path:
    path = folder / "truth.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def invoke(catalog: Path, video: Path, truth: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["eval", "episode", "--catalog", str(catalog), "--video", str(video), "--truth", str(truth), *extra],
    )
    return result.exit_code, result.output


def test_missing_inputs_are_named(workspace: Path) -> None:
    catalog = drawn_catalog(workspace)
    code, output = invoke(catalog, workspace / "nope.mp4", workspace / "truth.json")
    assert code == 1
    assert f"error: video {workspace / 'nope.mp4'} does not exist" in output


def test_a_malformed_truth_file_is_refused_before_any_work(workspace: Path) -> None:
    catalog = drawn_catalog(workspace)
    video = make_video(workspace / "ep.mp4")
    truth = truth_file(workspace, [{"start_ms": 0, "end_ms": 1000}])
    code, output = invoke(catalog, video, truth)
    assert code == 1
    assert "error: truth.json: shot 1 needs a SKU string, or null for a product-free shot" in output


def test_a_catalog_with_errors_is_refused_with_its_first_error(workspace: Path) -> None:
    catalog = workspace / "bad.csv"
    catalog.write_text("sku,title,price,currency\nA,Apple,-3,SEK\n", encoding="utf-8")
    video = make_video(workspace / "ep.mp4")
    truth = truth_file(workspace, [{"start_ms": 0, "end_ms": 1000, "sku": "A"}])
    code, output = invoke(catalog, video, truth)
    assert code == 1
    assert "error: bad.csv: 1 error(s) in the catalog file; nothing was imported" in output


def test_brand_detector_options_are_checked_before_any_work(workspace: Path) -> None:
    catalog = drawn_catalog(workspace)
    video = make_video(workspace / "ep.mp4")
    truth = truth_file(workspace, [{"start_ms": 0, "end_ms": 1000, "sku": "RED-1"}])
    card = workspace / "brand.toml"

    both = invoke(catalog, video, truth, "--train", "--detector-card", str(card))
    missing = invoke(catalog, video, truth, "--detector-card", str(card))

    assert both == (1, "error: give --train or --detector-card, not both\n")
    assert missing[0] == 1
    assert f"error: detector card {card} does not exist" in missing[1]


def test_a_tampered_brand_detector_card_is_refused_before_tagging(workspace: Path) -> None:
    catalog = drawn_catalog(workspace)
    video = make_video(workspace / "ep.mp4")
    truth = truth_file(workspace, [{"start_ms": 0, "end_ms": 1000, "sku": "RED-1"}])
    output = np.zeros((1, 5, 4), np.float32)
    model = constant_output_model(workspace / "brand.onnx", output, size=32)
    card = write_card(workspace, name="brand", file=model.name, sha256="0" * 64, layout="ultralytics")

    code, text = invoke(catalog, video, truth, "--detector-card", str(card))

    assert code == 1
    assert "does not match the model card's" in text


def test_without_a_detector_the_run_fails_with_the_tag_jobs_reason(workspace: Path) -> None:
    catalog = drawn_catalog(workspace)
    video = make_video(workspace / "ep.mp4")
    truth = truth_file(workspace, [{"start_ms": 0, "end_ms": 1000, "sku": "RED-1"}])
    code, output = invoke(catalog, video, truth)
    assert code == 1
    assert "error: the tag job failed:" in output
    assert "reelcart models pull" in output


def test_leave_out_drops_the_drawn_skus_from_the_imported_catalog(workspace: Path) -> None:
    catalog = drawn_catalog(workspace)
    with catalog.open("a", encoding="utf-8") as handle:
        handle.write("BLUE-2,Blue Box,9.90,SEK,red.png\n")
    video = make_video(workspace / "ep.mp4")
    truth = truth_file(workspace, [{"start_ms": 0, "end_ms": 1000, "sku": "RED-1"}])

    code, output = invoke(catalog, video, truth, "--leave-out", "1")

    # No detector here, so the tag job fails; the catalog it was given is already decided by then.
    assert code == 1
    assert "left out of the catalog (seed 0): RED-1" in output
    assert "catalog: 1 products imported" in output


def test_an_approval_level_outside_0_to_1_is_refused_before_any_work(workspace: Path) -> None:
    catalog = drawn_catalog(workspace)
    video = make_video(workspace / "ep.mp4")
    truth = truth_file(workspace, [{"start_ms": 0, "end_ms": 1000, "sku": "RED-1"}])

    code, output = invoke(catalog, video, truth, "--own-print-approve", "1.5")

    assert code == 2
    assert "--own-print-approve" in output
    assert "catalog:" not in output


def test_leaving_out_more_skus_than_the_truth_shows_is_refused_before_any_work(workspace: Path) -> None:
    catalog = drawn_catalog(workspace)
    video = make_video(workspace / "ep.mp4")
    truth = truth_file(workspace, [{"start_ms": 0, "end_ms": 1000, "sku": "RED-1"}])

    code, output = invoke(catalog, video, truth, "--leave-out", "2")

    assert code == 1
    assert "error: cannot leave out 2 SKUs: the truth's product shots show 1" in output
    assert "catalog:" not in output


@pytest.mark.slow
def test_a_labelled_episode_of_grocery_photos_is_tagged_linked_and_scored(
    workspace: Path, shared_dir: Path
) -> None:
    embedder = REPO_ROOT / "var" / "models" / "mobilenetv2_embedder.onnx"
    if not embedder.is_file():
        pytest.skip(f"{embedder} is absent; `make models` exports it")
    (workspace / "models" / embedder.name).symlink_to(embedder)
    pull(
        load_card(find_card(DEFAULT_MODEL_CARDS_DIR, "yolox-nano")),
        workspace / "models",
        source_dir=shared_dir / "models",
    )
    data = shared_dir / "data" / "grocery-dev"
    products = {
        "GS-A": "Juice/God-Morgon-Orange-Juice/God-Morgon-Orange-Juice_003.jpg",
        "GS-B": "Juice/Bravo-Orange-Juice/Bravo-Orange-Juice_002.jpg",
    }
    packshots = {
        "GS-A": "Juice/God-Morgon-Orange-Juice/God-Morgon-Orange-Juice_Iconic.jpg",
        "GS-B": "Juice/Bravo-Orange-Juice/Bravo-Orange-Juice_Iconic.jpg",
    }
    rows = [
        f"{sku},{sku} juice,19.90,SEK,{data / 'iconic-images-and-descriptions' / 'Packages' / path}"
        for sku, path in packshots.items()
    ]
    catalog = workspace / "catalog.csv"
    catalog.write_text("sku,title,price,currency,image\n" + "\n".join(rows) + "\n", encoding="utf-8")
    free = shared_dir / "data" / "videos"
    frame = workspace / "free.png"
    import av  # noqa: PLC0415

    with av.open(str(free / "one-by-one-person-detection.mp4")) as container:
        cv2.imwrite(str(frame), next(container.decode(video=0)).to_ndarray(format="bgr24"))
    shots = [ShotSpec(data / "val" / "Packages" / path, 3000, sku) for sku, path in products.items()]
    shots[1] = dataclasses.replace(shots[1], enter_ms=800)  # Bravo's carton comes into view mid-shot
    shots.append(ShotSpec(frame, 2500, None))
    # God Morgon held, then Bravo's carton brought up beside it.
    joining = Joining(data / "val" / "Packages" / products["GS-B"], "GS-B", 800)
    shots.append(ShotSpec(data / "val" / "Packages" / products["GS-A"], 3000, "GS-A", joined_by=joining))
    video = workspace / "episode.mp4"
    document = [
        {"start_ms": shot.start_ms, "end_ms": shot.end_ms, "sku": shot.sku}
        | ({"visible_ms": shot.visible_ms} if shot.visible_ms is not None else {})
        | (
            {"also": [{"sku": later.sku, "visible_ms": later.visible_ms} for later in shot.also]}
            if shot.also
            else {}
        )
        for shot in render_episode(shots, video, size=(360, 640), fps=15)
    ]
    assert "visible_ms" in document[1]
    also = document[3]["also"]
    assert isinstance(also, list)
    assert [later["sku"] for later in also] == ["GS-B"]
    truth = truth_file(workspace, document)
    out = workspace / "report.json"

    code, output = invoke(catalog, video, truth, "--out", str(out), "--own-print-approve", "0.6")

    assert code == 0, output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert (report["auto_approve_threshold"], report["own_print_auto_approve"]) == (0.8, 0.6)
    score = report["score"]
    assert (score["product_shots"], score["product_free_shots"]) == (3, 1)
    assert [shot["sku"] for shot in score["shots"]] == ["GS-A", "GS-B", None, "GS-A"]
    # The product brought in later is scored apart, on screen too.
    assert score["later_products"] == 1
    assert [later["sku"] for later in score["shots"][3]["later"]] == ["GS-B"]
    assert score["later_linked"] == sum(later["linked"] for later in score["shots"][3]["later"])
    assert "products brought into a shot later" in output
    assert "later products linked right, top-1" in output
    # God Morgon's carton fills the frame: the detector finds it and the linker puts it first of two.
    assert score["shots"][0]["placements"] >= 1
    assert score["shots"][0]["top5_right"] is True
    # Each found product's wait for its first placement, and their summary, on screen too.
    assert score["shots"][0]["delay_ms"] is not None
    assert score["delay_ms"]["max"] >= score["delay_ms"]["median"] >= 0
    assert "time to a found product's first placement" in output
    # And the share of the products' time in view with a placement on screen.
    assert 0 < score["shown_share"] <= 1
    assert score["shots"][0]["shown_ms"] <= score["shots"][0]["in_view_ms"] == 3000
    assert "time a product is in view with a placement on screen" in output
    assert 0 <= score["found"] <= 3
    assert set(report["seconds"]) == {
        "index",
        "decode",
        "detect",
        "track",
        "locate",
        "tag_total",
        "link",
        "wall",
    }
    assert report["job_summary"].startswith(f"{sum(shot['placements'] for shot in score['shots'])} placement")
    assert "found (a placement in the shot)" in output
    # Links on the edge of the level each needed are listed with their confidence, and counted on screen
    assert all(abs(link["confidence"] - link["level"]) < 0.05 for link in score["near_threshold"])
    assert {link["level"] for link in score["near_threshold"]} <= {0.8, 0.6}
    assert "links within 0.05 of their bar (" in " ".join(output.split())
