"""`scripts/relink_episode.py`: recorded placements linked again are counted per shot as
`reelcart eval episode` counts them, and a folder that is not a recording fails before any work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tagger.linking.catalog import CatalogItem
from tagger.linking.decision import Decision
from tagger.linking.linker import LinkResult, SkuCandidate
from tests.utils.scripts import script_module


@pytest.fixture(scope="module")
def relink() -> Iterator[ModuleType]:
    with script_module("relink_episode") as module:
        yield module


def result(
    sku: str | None, confidence: float, decision: Decision, *, contradicted: bool = False
) -> LinkResult:
    candidates = (SkuCandidate(sku, sku, confidence),) if sku is not None else ()
    return LinkResult(candidates, sku, confidence, 0.1, decision, "v1", 3, contradicted=contradicted)


def test_links_are_counted_per_shot_right_wrong_and_left_out(relink: ModuleType) -> None:
    def linked(
        record: str,
        shot: int | None,
        shot_sku: str | None,
        link: LinkResult,
        left_out: bool = False,
        also: tuple[str, ...] = (),
    ) -> object:
        start = shot or 0
        placement = relink.RecordedPlacement(start, start + 1000, "product", shot, shot_sku, 3, also)
        return relink.Relinked(record, placement, link, left_out)

    items = [
        # Two approved placements of one shot count once; the same time in another episode is another shot
        linked("ep-0", 0, "GS-01", result("GS-01", 0.9, Decision.APPROVED)),
        linked("ep-0", 0, "GS-01", result("GS-01", 0.82, Decision.APPROVED)),
        linked("ep-1", 0, "GS-01", result("GS-01", 0.95, Decision.APPROVED)),
        # An approval of another product, and one on a product-free shot: wrong
        linked("ep-0", 3000, "GS-02", result("GS-07", 0.88, Decision.APPROVED)),
        linked("ep-0", 6000, None, result("GS-03", 0.9, Decision.APPROVED)),
        # A left-out product approved as its sibling
        linked("ep-0", 9000, "GS-04", result("GS-05", 0.81, Decision.APPROVED), left_out=True),
        # Near the level: 0.82 and 0.81 above; 0.78 proposed. Near but contradicted (never approved), and far
        linked("ep-1", 3000, "GS-02", result("GS-02", 0.78, Decision.PROPOSED)),
        linked("ep-1", 6000, "GS-03", result("GS-08", 0.79, Decision.PROPOSED, contradicted=True)),
        linked("ep-1", 9000, "GS-04", result(None, 0.1, Decision.UNKNOWN)),
        # A product brought into the shot later, approved as itself: right, also in a left-out shot
        linked("ep-2", 0, "GS-01", result("GS-09", 0.9, Decision.APPROVED), also=("GS-09",)),
        linked(
            "ep-2", 3000, "GS-04", result("GS-09", 0.9, Decision.APPROVED), left_out=True, also=("GS-09",)
        ),
    ]

    summary = relink.summarize(items, 0.8)

    assert summary == relink.Summary(
        product_shots_approved_right=4,
        product_shots_approved_wrong=2,
        left_out_shots_approved=1,
        near_threshold=3,
    )


def test_a_folder_that_is_not_a_recording_is_refused_with_its_name(
    relink: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match=f"{tmp_path} is not a record of"):
        relink.read_record(tmp_path)
    (tmp_path / relink.PLACEMENTS_FILE).write_text(
        json.dumps({"placements": [{"start_ms": 0}]}), encoding="utf-8"
    )
    np.savez_compressed(tmp_path / relink.CROPS_FILE, p0_c0=np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(SystemExit, match="is not a record of"):
        relink.read_record(tmp_path)


def test_a_recording_reads_back_its_placements_and_crops(relink: ModuleType, tmp_path: Path) -> None:
    placement = relink.RecordedPlacement(100, 2100, "product", 0, "GS-01", 2, ("GS-02",))
    (tmp_path / relink.PLACEMENTS_FILE).write_text(
        json.dumps({"placements": [asdict(placement)]}), encoding="utf-8"
    )
    crops = [np.full((8, 6, 3), value, np.uint8) for value in (10, 20)]
    np.savez_compressed(tmp_path / relink.CROPS_FILE, p0_c0=crops[0], p0_c1=crops[1])

    [(read, arrays)] = relink.read_record(tmp_path)

    assert read == placement
    assert [array.tolist() for array in arrays] == [crop.tolist() for crop in crops]


def test_leaving_out_a_sku_the_catalog_lacks_is_refused(relink: ModuleType) -> None:
    items = [CatalogItem("GS-01", "Juice"), CatalogItem("GS-02", "Milk")]
    assert [item.sku for item in relink.catalog_without(items, frozenset({"GS-02"}))] == ["GS-01"]
    with pytest.raises(SystemExit, match="--leave-out names SKUs the catalog lacks: GS-09"):
        relink.catalog_without(items, frozenset({"GS-09"}))


def test_an_import_json_catalog_gives_each_variant_its_products_images(
    relink: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "shots").mkdir()
    document = {
        "products": [
            {
                "title": "Yoggi",
                "vendor": "Arla",
                "description": "Yoghurt",
                "variants": [
                    {"sku": "GS-57", "price": "19.90", "currency": "SEK"},
                    {"sku": "GS-58", "price": "19.90", "currency": "SEK"},
                ],
                "images": [{"path": "shots/pack.jpg"}, {"path": str(tmp_path / "shop.jpg")}],
            },
            {"title": "Bravo", "variants": [{"sku": "GS-28", "price": "28.90", "currency": "SEK"}]},
        ]
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    items = relink.read_catalog(path)

    images = (tmp_path / "shots" / "pack.jpg", tmp_path / "shop.jpg")
    assert items == [
        CatalogItem("GS-57", "Yoggi", "Arla", "Yoghurt", images),
        CatalogItem("GS-58", "Yoggi", "Arla", "Yoghurt", images),
        CatalogItem("GS-28", "Bravo", "", "", ()),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [('{"products": [', "malformed JSON"), ('{"products": [{"title": ""}]}', r"products\[0\]: String")],
)
def test_a_broken_json_catalog_is_refused_with_where(
    relink: ModuleType, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(SystemExit, match=message):
        relink.read_catalog(path)


def test_a_recording_made_before_later_products_reads_back_with_none(
    relink: ModuleType, tmp_path: Path
) -> None:
    row = {
        "start_ms": 100,
        "end_ms": 2100,
        "label": "product",
        "shot_start_ms": 0,
        "shot_sku": "GS-01",
        "crops": 1,
    }
    (tmp_path / relink.PLACEMENTS_FILE).write_text(json.dumps({"placements": [row]}), encoding="utf-8")
    np.savez_compressed(tmp_path / relink.CROPS_FILE, p0_c0=np.zeros((8, 6, 3), np.uint8))

    [(read, _)] = relink.read_record(tmp_path)

    assert read == relink.RecordedPlacement(100, 2100, "product", 0, "GS-01", 1)
    assert read.shot_also == ()
