"""Evaluation inputs and metrics: CSV errors, summary numbers, reliability, per-SKU results."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import pytest

from tagger.linking.catalog import CatalogItem
from tagger.linking.croppers import WholeImageCropper
from tagger.linking.dataset import Query, read_catalog_csv, read_queries_csv
from tagger.linking.decision import LinkThresholds
from tagger.linking.errors import EvaluationInputError
from tagger.linking.evaluation import (
    Prediction,
    collect,
    per_sku,
    precision_curve,
    predict,
    reliability,
    reliability_with_unknowns,
    summarize,
)
from tagger.linking.index import build_catalog_index
from tagger.linking.linker import ShortlistConfig
from tests.tagger.linking.factories import catalog, extractor, packshot, photo_of, scene_around
from tests.tagger.linking.test_linker import _appearance_model, _shelf_shot, _sibling_of


def _prediction(
    sku: str, rank: int | None, confidence: float, left_out: float, top: str | None = None
) -> Prediction:
    return Prediction(
        query=Query(Path(f"{sku}.jpg"), sku, "Packages"),
        rank=rank,
        top_sku=top or (sku if rank == 1 else "OTHER"),
        confidence=confidence,
        top_correct=rank == 1,
        left_out_confidence=left_out,
        seconds=0.01,
    )


PREDICTIONS = [
    _prediction("A", 1, 0.95, 0.10),
    _prediction("A", 1, 0.85, 0.50),
    _prediction("B", 2, 0.90, 0.85),
    _prediction("B", None, 0.20, 0.05),
]


def test_summary_counts_ranks_approvals_and_leave_out_confidence() -> None:
    summary = summarize(PREDICTIONS, LinkThresholds(auto_approve=0.8, floor=0.3))

    assert summary == {
        "queries": 4,
        "top1": 0.5,
        "top5": 0.75,
        "mrr": round((1 + 1 + 0.5) / 4, 4),
        "auto_approved": {"threshold": 0.8, "count": 3, "coverage": 0.75, "precision": 0.6667},
        "unknown_share": 0.25,
        "leave_sku_out": {"auto_approved_share": 0.25, "above_floor_share": 0.5, "mean_confidence": 0.375},
    }


def test_confident_links_without_print_evidence_are_not_counted_as_approved() -> None:
    unseen_print = replace(PREDICTIONS[2], print_evidence=False, left_out_print_evidence=False)
    predictions = [PREDICTIONS[0], PREDICTIONS[1], unseen_print, PREDICTIONS[3]]

    summary = summarize(predictions, LinkThresholds(auto_approve=0.8, floor=0.3))
    trusting = summarize(
        predictions, LinkThresholds(auto_approve=0.8, floor=0.3, require_print_evidence=False)
    )

    assert summary["auto_approved"] == {"threshold": 0.8, "count": 2, "coverage": 0.5, "precision": 1.0}
    assert summary["leave_sku_out"]["auto_approved_share"] == 0.0
    assert trusting["auto_approved"]["count"] == 3
    assert precision_curve(predictions, [0.8]) == [{"threshold": 0.8, "coverage": 0.5, "precision": 1.0}]


def test_reliability_bins_confidence_against_accuracy() -> None:
    table = reliability(PREDICTIONS)

    assert table == {
        "bins": [
            {"range": [0.2, 0.4], "count": 1, "mean_confidence": 0.2, "accuracy": 0.0},
            {"range": [0.8, 0.9], "count": 1, "mean_confidence": 0.85, "accuracy": 1.0},
            {"range": [0.9, 0.95], "count": 1, "mean_confidence": 0.9, "accuracy": 0.0},
            {"range": [0.95, 1.0], "count": 1, "mean_confidence": 0.95, "accuracy": 1.0},
        ],
        "expected_calibration_error": round((0.2 + 0.15 + 0.9 + 0.05) / 4, 4),
    }


def test_per_sku_lists_confusions() -> None:
    assert per_sku(PREDICTIONS) == [
        {"sku": "A", "queries": 2, "top1": 1.0, "top5": 1.0, "mean_confidence": 0.9, "confused_with": []},
        {
            "sku": "B",
            "queries": 2,
            "top1": 0.0,
            "top5": 0.5,
            "mean_confidence": 0.55,
            "confused_with": ["OTHER"],
        },
    ]


def test_catalog_csv_groups_rows_by_sku_with_paths_relative_to_the_csv(tmp_path: Path) -> None:
    csv_path = tmp_path / "CATALOG.csv"
    csv_path.write_text(
        "sku,title,image,description\n"
        "A,Apple Juice,img/a1.jpg,Fresh\nA,Apple Juice,img/a2.jpg,\nB,Milk,b.jpg,\n",
        encoding="utf-8",
    )

    items = read_catalog_csv(csv_path)

    assert items == [
        CatalogItem("A", "Apple Juice", "", "Fresh", (tmp_path / "img/a1.jpg", tmp_path / "img/a2.jpg")),
        CatalogItem("B", "Milk", "", "", (tmp_path / "b.jpg",)),
    ]


def test_catalog_csv_reads_own_print_boxes_and_refuses_a_wrong_one_by_its_line(tmp_path: Path) -> None:
    csv_path = tmp_path / "CATALOG.csv"
    csv_path.write_text(
        "sku,title,image,own_print\n"
        "A,Yoggi Strawberry,a.jpg,0.42 0.31 0.57 0.54; 0.55 0.3 0.7 0.62\n"
        "B,Milk,b.jpg,\n",
        encoding="utf-8",
    )

    items = read_catalog_csv(csv_path)

    assert items[0].own_print == ((0.42, 0.31, 0.57, 0.54), (0.55, 0.3, 0.7, 0.62))
    assert items[1].own_print == ()
    csv_path.write_text("sku,title,image,own_print\nA,Yoggi,a.jpg,0.42 0.31 1.57 0.54\n", encoding="utf-8")
    with pytest.raises(
        EvaluationInputError, match=r"CATALOG.csv:2: own_print: box 1: numbers must be fractions"
    ):
        read_catalog_csv(csv_path)


def test_queries_csv_defaults_the_group(tmp_path: Path) -> None:
    csv_path = tmp_path / "QUERIES.csv"
    csv_path.write_text("image,sku\nq/1.jpg,A\n", encoding="utf-8")

    assert read_queries_csv(csv_path) == [Query(tmp_path / "q/1.jpg", "A", "all")]


def test_csv_without_required_columns_is_refused(tmp_path: Path) -> None:
    csv_path = tmp_path / "CATALOG.csv"
    csv_path.write_text("sku,name\nA,Apple\n", encoding="utf-8")

    with pytest.raises(EvaluationInputError, match=r"lacks column\(s\) title, image \(has: sku, name\)"):
        read_catalog_csv(csv_path)


def test_missing_csv_and_empty_csv_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("image,sku\n", encoding="utf-8")

    with pytest.raises(EvaluationInputError, match="cannot open"):
        read_queries_csv(tmp_path / "absent.csv")
    with pytest.raises(EvaluationInputError, match="has a header but no rows"):
        read_queries_csv(tmp_path / "empty.csv")


def test_reliability_with_unknowns_counts_left_out_copies_as_wrong_at_their_weight() -> None:
    table = reliability_with_unknowns([_prediction("A", 1, 0.9, 0.1)])

    assert table == {
        "bins": [
            {"range": [0.0, 0.2], "count": 1, "mean_confidence": 0.1, "accuracy": 0.0},
            {"range": [0.9, 0.95], "count": 1, "mean_confidence": 0.9, "accuracy": 1.0},
        ],
        "expected_calibration_error": round((1.0 * 0.1 + 0.5 * 0.1) / 1.5, 4),
    }


def test_a_catalog_with_scenes_is_scored_with_the_packshots_second_opinion(tmp_path: Path) -> None:
    """The photo evaluation approves what production approves: a link a shop photo made certain, with
    print evidence from the shared logo, is not approved when the packshots alone disagree."""
    sibling = _sibling_of(0, 9)
    items = catalog(6)
    items[0] = replace(items[0], images=(items[0].images[0], scene_around(sibling, seed=3)))
    index = build_catalog_index(items, extractor())
    path = tmp_path / "shelf.png"
    cv2.imwrite(str(path), _shelf_shot())
    shortlist = ShortlistConfig(size=5)

    (record,) = collect([Query(path, "SKU-0")], index, extractor(), shortlist, WholeImageCropper())
    prediction = predict(record, _appearance_model(), index)

    assert record.known_packshots
    assert record.left_out_packshots
    assert prediction.top_sku == "SKU-0"
    assert prediction.confidence >= 0.99
    assert prediction.print_evidence
    assert prediction.packshot_confidence is not None
    assert prediction.packshot_confidence < 0.1
    assert not prediction.approved(LinkThresholds())
    assert replace(prediction, packshot_confidence=None).approved(LinkThresholds())


def test_a_catalog_of_packshots_needs_no_second_opinion(tmp_path: Path) -> None:
    index = build_catalog_index(catalog(3), extractor())
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), photo_of(packshot(1)))

    (record,) = collect(
        [Query(path, "SKU-1")], index, extractor(), ShortlistConfig(size=3), WholeImageCropper()
    )

    assert record.known_packshots == record.left_out_packshots == ()
    assert predict(record, _appearance_model(), index).packshot_confidence is None


def test_the_photo_evaluation_holds_a_marked_product_whose_own_print_no_crop_matched() -> None:
    marked = Prediction(
        query=Query(Path("q.jpg"), "A"),
        rank=1,
        top_sku="A",
        confidence=0.95,
        top_correct=True,
        left_out_confidence=0.9,
        seconds=0.0,
        own_print_unseen=True,
        left_out_own_print_unseen=True,
    )
    thresholds = LinkThresholds(require_print_evidence=False)

    assert not marked.approved(thresholds)
    assert not marked.left_out_approved(thresholds)
    unmarked = replace(marked, own_print_unseen=False, left_out_own_print_unseen=False)
    assert unmarked.approved(thresholds)
    assert unmarked.left_out_approved(thresholds)


def test_the_photo_evaluation_approves_a_confirmed_own_print_from_the_own_print_level() -> None:
    confirmed = Prediction(
        query=Query(Path("q.jpg"), "A"),
        rank=1,
        top_sku="A",
        confidence=0.6,
        top_correct=True,
        left_out_confidence=0.6,
        seconds=0.0,
        own_print_confirmed=True,
        left_out_own_print_confirmed=False,
    )
    thresholds = LinkThresholds(auto_approve=0.8, own_print_approve=0.5)

    assert confirmed.approved(thresholds)
    assert not confirmed.left_out_approved(thresholds)
    assert not confirmed.approved(LinkThresholds(auto_approve=0.8, own_print_approve=0.8))
