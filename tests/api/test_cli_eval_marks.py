"""`reelcart eval marks`: every own-print mark of a catalog file checked against the rest of it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.tagger.linking.factories import family_packshot, packshot

REPO_MODELS = Path(__file__).resolve().parents[2] / "var" / "models"
runner = CliRunner()


@pytest.fixture
def model_dir() -> Path:
    if not (REPO_MODELS / "mobilenetv2_embedder.onnx").is_file():
        pytest.skip("var/models/mobilenetv2_embedder.onnx is missing; `make models` exports it")
    return REPO_MODELS


def _catalog(folder: Path) -> Path:
    for name, image in (
        ("s.png", family_packshot(101)),
        ("v.png", family_packshot(202)),
        ("t.png", packshot(5)),
    ):
        cv2.imwrite(str(folder / name), image)
    catalog = folder / "catalog.csv"
    catalog.write_text(
        "sku,title,vendor,image,own_print\n"
        "YOG-S,Yoggi Strawberry,Yoggi,s.png,0.22 0.07 0.78 0.45\n"
        "YOG-V,Yoggi Vanilla,Yoggi,v.png,0.22 0.07 0.78 0.45; 0.22 0.55 0.78 0.93\n"
        "TEA-1,Green Tea,Leaf,t.png,\n",
        encoding="utf-8",
    )
    return catalog


def test_each_marked_product_is_checked_and_the_report_names_what_to_change(
    tmp_path: Path, model_dir: Path
) -> None:
    catalog = _catalog(tmp_path)
    out = tmp_path / "marks.json"

    result = runner.invoke(
        app, ["eval", "marks", "--catalog", str(catalog), "--model-dir", str(model_dir), "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert "1 of 2 marked products' marks pass" in result.output
    assert "YOG-S prints" in result.output
    report = {row["sku"]: row for row in json.loads(out.read_text(encoding="utf-8"))["products"]}
    assert set(report) == {"YOG-S", "YOG-V"}  # the tea has no marks
    assert (report["YOG-S"]["ok"], report["YOG-S"]["shared"]) == (True, [])
    (shared,) = report["YOG-V"]["shared"]
    assert shared["sku"] == "YOG-S"
    assert shared["per_box"][1] >= 10 > shared["per_box"][0]
    assert report["YOG-V"]["problems"][0].startswith("Yoggi Strawberry (YOG-S) matches")


def test_a_catalog_that_cannot_be_read_fails_with_one_line(tmp_path: Path, model_dir: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,title,image,own_print\nX,Thing,x.png,0.5 0.5 0.4\n", encoding="utf-8")

    result = runner.invoke(app, ["eval", "marks", "--catalog", str(bad), "--model-dir", str(model_dir)])

    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert "own_print" in result.output
    assert len(result.output.strip().splitlines()) == 1
