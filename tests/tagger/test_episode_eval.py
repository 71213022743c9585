"""Scoring a tagged episode per labelled shot, as a brand would judge it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tagger.episode_eval import (
    NearThreshold,
    ScoredPlacement,
    ShotScore,
    TruthError,
    TruthShot,
    choose_left_out,
    covered_ms,
    parse_truth,
    read_truth,
    score_episode,
    shot_index,
)

TRUTH = [
    TruthShot(0, 3000, "GS-01"),
    TruthShot(3000, 6000, "GS-02"),
    TruthShot(6000, 9000, None),
    TruthShot(9000, 12000, "GS-03"),
]


def test_given_placements_when_scored_then_each_shot_is_judged_by_its_longest_placement() -> None:
    placements = [
        # Shot 1: a short wrong placement and a long right one; the long one speaks for the shot.
        ScoredPlacement(100, 600, ("GS-09",), None),
        ScoredPlacement(200, 2900, ("GS-01", "GS-09"), "GS-01"),
        # Shot 2: right only at rank 3; spills 100 ms into shot 3, still counted once, in shot 2.
        ScoredPlacement(3200, 6100, ("GS-07", "GS-08", "GS-02"), None),
        # Shot 3 (no product): a placement there, auto-approved (wrong by definition).
        ScoredPlacement(6500, 8000, ("GS-05",), "GS-05"),
        # Shot 4: nothing found. And one placement outside every shot, ignored.
        ScoredPlacement(20000, 21000, ("GS-03",), None),
    ]
    score = score_episode(TRUTH, placements)

    assert score.shots == (
        ShotScore(
            0,
            3000,
            "GS-01",
            2,
            "GS-01",
            True,
            True,
            ("GS-01",),
            delay_ms=100,
            in_view_ms=3000,
            shown_ms=2800,
            approved_right=1,
        ),
        ShotScore(
            3000, 6000, "GS-02", 1, "GS-07", False, True, (), delay_ms=200, in_view_ms=3000, shown_ms=2800
        ),
        ShotScore(6000, 9000, None, 1, "GS-05", False, False, ("GS-05",), approved_wrong=1),
        ShotScore(9000, 12000, "GS-03", 0, None, False, False, (), in_view_ms=3000),
    )
    assert (score.product_shots, score.product_free_shots, score.found) == (3, 1, 2)
    assert (score.top1_right, score.top5_right) == (1, 2)
    assert (score.auto_approved_shots, score.auto_approved_right, score.auto_approved_wrong) == (1, 1, 1)
    assert score.placements_on_product_free_shots == 1
    assert score.rates() == pytest.approx(
        {"found": 2 / 3, "top1": 1 / 3, "top5": 2 / 3, "auto_approved": 1 / 3}
    )
    assert score.to_json()["rates"] == {
        "found": 0.6667,
        "top1": 0.3333,
        "top5": 0.6667,
        "auto_approved": 0.3333,
    }


def test_given_an_approved_link_to_the_wrong_sku_when_scored_then_it_counts_as_wrong() -> None:
    score = score_episode(TRUTH[:1], [ScoredPlacement(0, 3000, ("GS-04", "GS-01"), "GS-04")])
    assert (score.auto_approved_shots, score.auto_approved_right, score.auto_approved_wrong) == (1, 0, 1)
    assert (score.top1_right, score.top5_right) == (0, 1)


def test_given_no_placements_when_scored_then_every_rate_is_zero() -> None:
    score = score_episode(TRUTH, [])
    assert score.rates() == {"found": 0.0, "top1": 0.0, "top5": 0.0, "auto_approved": 0.0}
    assert score.placements_on_product_free_shots == 0


def test_a_truth_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text(
        json.dumps([{"start_ms": 0, "end_ms": 10, "sku": "A"}, {"start_ms": 10, "end_ms": 20, "sku": None}])
    )
    assert read_truth(path) == [TruthShot(0, 10, "A"), TruthShot(10, 20, None)]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "expected a non-empty JSON list"),
        ([], "expected a non-empty JSON list"),
        (["x"], "shot 1 is not an object"),
        ([{"start_ms": "0", "end_ms": 5, "sku": "A"}], "shot 1 needs integer start_ms and end_ms"),
        ([{"start_ms": True, "end_ms": 5, "sku": "A"}], "shot 1 needs integer start_ms and end_ms"),
        ([{"start_ms": 5, "end_ms": 5, "sku": "A"}], "shot 1 spans 5..5 ms"),
        ([{"start_ms": -1, "end_ms": 5, "sku": "A"}], "shot 1 spans -1..5 ms"),
        ([{"start_ms": 0, "end_ms": 5}], "shot 1 needs a SKU string, or null"),
        ([{"start_ms": 0, "end_ms": 5, "sku": " "}], "shot 1 needs a SKU string, or null"),
        ([{"start_ms": 0, "end_ms": 5, "sku": 3}], "shot 1 needs a SKU string, or null"),
        (
            [{"start_ms": 0, "end_ms": 5, "sku": "A"}, {"start_ms": 4, "end_ms": 9, "sku": "B"}],
            "shot 2 starts before shot 1 ends",
        ),
        ([{"start_ms": 10, "end_ms": 50, "sku": "A", "visible_ms": 50}], r"visible_ms 50; need .* 10\.\.50"),
        ([{"start_ms": 10, "end_ms": 50, "sku": "A", "visible_ms": 9}], "shot 1 has visible_ms 9"),
        ([{"start_ms": 10, "end_ms": 50, "sku": "A", "visible_ms": "20"}], "shot 1 has visible_ms '20'"),
        ([{"start_ms": 10, "end_ms": 50, "sku": "A", "visible_ms": True}], "shot 1 has visible_ms True"),
        (
            [{"start_ms": 10, "end_ms": 50, "sku": None, "visible_ms": 20}],
            "shot 1 has no product to come into",
        ),
        ([{"start_ms": 0, "end_ms": 50, "sku": "A", "also": {"sku": "B"}}], "shot 1's also must be a list"),
        (
            [{"start_ms": 0, "end_ms": 50, "sku": None, "also": [{"sku": "B", "visible_ms": 5}]}],
            "in a shot with a product",
        ),
        ([{"start_ms": 0, "end_ms": 50, "sku": "A", "also": ["B"]}], "a later product without a SKU string"),
        (
            [{"start_ms": 0, "end_ms": 50, "sku": "A", "also": [{"sku": "A", "visible_ms": 5}]}],
            "names A twice",
        ),
        (
            [
                {
                    "start_ms": 0,
                    "end_ms": 50,
                    "sku": "A",
                    "also": [{"sku": "B", "visible_ms": 5}, {"sku": "B", "visible_ms": 9}],
                }
            ],
            "names B twice",
        ),
        (
            [{"start_ms": 10, "end_ms": 50, "sku": "A", "also": [{"sku": "B", "visible_ms": 50}]}],
            r"later product B has visible_ms 50; need .* 10\.\.50",
        ),
        (
            [{"start_ms": 10, "end_ms": 50, "sku": "A", "also": [{"sku": "B"}]}],
            "later product B has visible_ms None",
        ),
    ],
)
def test_a_malformed_truth_is_refused_with_the_shot_that_is_wrong(document: object, message: str) -> None:
    with pytest.raises(TruthError, match=message):
        parse_truth(document)


def test_an_unreadable_truth_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(TruthError, match=r"truth\.json: not a readable JSON file"):
        read_truth(path)


def test_given_left_out_skus_when_scored_then_their_shots_count_apart_and_approvals_are_wrong() -> None:
    placements = [
        ScoredPlacement(0, 3000, ("GS-01",), "GS-01"),
        # GS-02 is not in the catalog: its sibling GS-07 is proposed there, and approved (wrong).
        ScoredPlacement(3000, 6000, ("GS-07", "GS-08"), "GS-07"),
        # GS-03 is not in the catalog either: proposed for review, not approved.
        ScoredPlacement(9000, 12000, ("GS-09",), None),
    ]
    score = score_episode(TRUTH, placements, left_out={"GS-02", "GS-03"})

    assert [shot.left_out for shot in score.shots] == [False, True, False, True]
    assert (score.product_shots, score.found, score.top1_right, score.auto_approved_shots) == (1, 1, 1, 1)
    # A left-out shot still shows a product: it is neither a product shot in the catalog nor product-free.
    assert score.product_free_shots == 1
    assert score.left_out_skus == ("GS-02", "GS-03")
    assert (score.left_out_shots, score.left_out_with_placements, score.left_out_auto_approved) == (2, 2, 1)
    assert (score.auto_approved_right, score.auto_approved_wrong) == (1, 1)
    assert score.rates() == pytest.approx(
        {
            "found": 1.0,
            "top1": 1.0,
            "top5": 1.0,
            "auto_approved": 1.0,
            "left_out_with_placements": 1.0,
            "left_out_auto_approved": 0.5,
        }
    )


def test_left_out_skus_are_drawn_from_the_product_shots_the_same_way_for_the_same_seed() -> None:
    first = choose_left_out(TRUTH, 2, seed=3)
    assert len(first) == 2
    assert first <= {"GS-01", "GS-02", "GS-03"}
    assert choose_left_out(list(reversed(TRUTH)), 2, seed=3) == first
    assert choose_left_out(TRUTH, 3) == {"GS-01", "GS-02", "GS-03"}
    assert choose_left_out(TRUTH, 0) == frozenset()
    # Over seeds, every SKU gets left out some time (the draw is not stuck on one order).
    assert set().union(*(choose_left_out(TRUTH, 1, seed=seed) for seed in range(20))) == {
        "GS-01",
        "GS-02",
        "GS-03",
    }


def test_more_skus_than_the_truth_shows_cannot_be_left_out() -> None:
    with pytest.raises(TruthError, match="cannot leave out 4 SKUs: the truth's product shots show 3"):
        choose_left_out(TRUTH, 4)


def test_links_on_the_edge_of_the_auto_approve_level_are_listed_whichever_side_they_fall() -> None:
    # Given the brand's level 0.8 and links at various distances from it
    truth = [*TRUTH, TruthShot(12000, 15000, "GS-04"), TruthShot(15000, 16500, "GS-04")]
    placements = [
        ScoredPlacement(0, 3000, ("GS-01",), "GS-01", confidence=0.82),  # approved, 0.02 above
        ScoredPlacement(3000, 6000, ("GS-02",), None, confidence=0.78),  # right, 0.02 below
        ScoredPlacement(6100, 8000, ("GS-05",), None, confidence=0.77),  # a product-free shot
        ScoredPlacement(9000, 12000, ("GS-07",), None, confidence=0.79, contradicted=True),  # never approved
        ScoredPlacement(9000, 11000, ("GS-03",), None, confidence=0.60),  # far below: not on the edge
        ScoredPlacement(12000, 15000, ("GS-09",), None, confidence=0.76),  # GS-04 left out: a wrong sale
        # A confirmed own print needed only 0.5: on that edge, not on the 0.8 one
        ScoredPlacement(15000, 15900, ("GS-04",), None, confidence=0.77, approval_level=0.5),
        ScoredPlacement(15900, 16500, ("GS-04",), None, confidence=0.48, approval_level=0.5),
    ]

    score = score_episode(truth, placements, left_out={"GS-04"}, auto_approve=0.8)

    # Then the uncontradicted ones within 0.05 are listed, with what approving them would sell
    assert score.near_threshold == (
        NearThreshold(0, "GS-01", "GS-01", 0.82, approved=True, right=True, level=0.8),
        NearThreshold(3000, "GS-02", "GS-02", 0.78, approved=False, right=True, level=0.8),
        NearThreshold(6000, None, "GS-05", 0.77, approved=False, right=False, level=0.8),
        NearThreshold(12000, "GS-04", "GS-09", 0.76, approved=False, right=None, level=0.8),
        NearThreshold(15000, "GS-04", "GS-04", 0.48, approved=False, right=None, level=0.5),
    )
    assert score.to_json()["near_threshold"][3] == {
        "shot_start_ms": 12000,
        "shot_sku": "GS-04",
        "sku": "GS-09",
        "confidence": 0.76,
        "approved": False,
        "right": None,
        "level": 0.8,
    }
    # and without the level (or without confidences) nothing is listed
    assert score_episode(truth, placements, left_out={"GS-04"}).near_threshold == ()
    assert (
        score_episode(TRUTH, [ScoredPlacement(0, 3000, ("GS-01",), None)], auto_approve=0.8).near_threshold
        == ()
    )


def test_a_span_belongs_to_the_shot_it_overlaps_most() -> None:
    truth = [TruthShot(0, 3000, "GS-01"), TruthShot(3000, 6000, None)]
    assert shot_index(2900, 5000, truth) == 1
    assert shot_index(100, 3100, truth) == 0
    assert shot_index(7000, 8000, truth) is None
    assert shot_index(0, 1000, []) is None


def test_a_found_products_wait_for_its_first_placement_is_counted_from_when_it_comes_into_view() -> None:
    truth = parse_truth(
        [
            {"start_ms": 0, "end_ms": 3000, "sku": "GS-01", "visible_ms": 1200},
            {"start_ms": 3000, "end_ms": 6000, "sku": "GS-02"},  # in view from the first frame
            {"start_ms": 6000, "end_ms": 9000, "sku": "GS-03", "visible_ms": 7000},
            {"start_ms": 9000, "end_ms": 12000, "sku": None},
        ]
    )
    placements = [
        ScoredPlacement(2400, 3000, ("GS-01",), None),  # found 1.2 s after it came into view
        ScoredPlacement(1500, 2000, ("GS-09",), None),  # an earlier placement in the shot counts
        ScoredPlacement(3100, 5900, ("GS-02",), "GS-02"),
        ScoredPlacement(9500, 9900, ("GS-05",), None),  # a product-free shot has no wait
        ScoredPlacement(6900, 8000, ("GS-03",), None),  # a glimpse before it came into view: no wait
    ]

    score = score_episode(truth, placements)

    assert [shot.delay_ms for shot in score.shots] == [300, 100, 0, None]
    assert score.delays_ms() == [0, 100, 300]
    assert score.to_json()["delay_ms"] == {"median": 100, "max": 300, "over_1s": 0}
    assert truth[0].visible_ms == 1200
    assert truth[1].visible_ms is None


def test_the_time_a_product_is_in_view_with_a_placement_on_screen_counts_overlaps_once() -> None:
    truth = parse_truth(
        [
            {"start_ms": 0, "end_ms": 3000, "sku": "GS-01", "visible_ms": 1000},
            {"start_ms": 3000, "end_ms": 6000, "sku": "GS-02"},  # never found: in view, not shown
            {"start_ms": 6000, "end_ms": 9000, "sku": None},
            {"start_ms": 9000, "end_ms": 12000, "sku": "GS-03"},
        ]
    )
    placements = [
        ScoredPlacement(800, 1800, ("GS-01",), None),  # before it came into view counts from then
        ScoredPlacement(1500, 2200, ("GS-07",), None),  # overlapping: 1800..2200 more
        ScoredPlacement(2600, 3000, ("GS-01",), None),
        ScoredPlacement(6500, 8500, ("GS-05",), None),  # a product-free shot shows no product
        ScoredPlacement(9000, 12000, ("GS-03",), "GS-03"),
    ]

    score = score_episode(truth, placements)

    assert [(shot.in_view_ms, shot.shown_ms) for shot in score.shots] == [
        (2000, 1600),
        (3000, 0),
        (0, 0),
        (3000, 3000),
    ]
    assert score.shown_share() == pytest.approx(4600 / 8000)
    assert score.to_json()["shown_share"] == 0.575
    assert score_episode(truth[2:3], []).shown_share() is None
    assert covered_ms([], 0, 1000) == 0


def test_a_product_brought_in_later_is_scored_by_the_placements_that_name_it() -> None:
    truth = parse_truth(
        [
            {"start_ms": 0, "end_ms": 4000, "sku": "GS-01", "also": [{"sku": "GS-02", "visible_ms": 1500}]},
            {
                "start_ms": 4000,
                "end_ms": 8000,
                "sku": "GS-03",
                "also": [{"sku": "GS-04", "visible_ms": 5000}],
            },
            {
                "start_ms": 8000,
                "end_ms": 12000,
                "sku": "GS-05",
                "also": [{"sku": "GS-06", "visible_ms": 9000}],
            },
            {
                "start_ms": 12000,
                "end_ms": 16000,
                "sku": "GS-07",
                "also": [{"sku": "GS-08", "visible_ms": 14000}],
            },
        ]
    )
    placements = [
        ScoredPlacement(0, 3900, ("GS-01",), "GS-01"),
        # The later product's placement, shorter than the held one's: its own.
        ScoredPlacement(1900, 3900, ("GS-02", "GS-01"), "GS-02"),
        ScoredPlacement(2000, 2500, ("GS-02",), "GS-02"),  # a second approved placement of it
        # Only the later product found: the shot's own product is not.
        ScoredPlacement(4100, 7900, ("GS-04",), None),
        # A placement approved as neither product is wrong.
        ScoredPlacement(8000, 11900, ("GS-05",), None),
        ScoredPlacement(9200, 11900, ("GS-07",), "GS-07"),
        # Named after the later product but over before it came into view: the held product's,
        # mislinked; it does not link the later product.
        ScoredPlacement(12000, 13500, ("GS-08",), None),
    ]

    score = score_episode(truth, placements)

    first, second, third, fourth = score.shots
    assert (first.placements, first.top1_right, first.approved) == (1, True, ("GS-01",))
    assert [(later.sku, later.linked, later.approved, later.delay_ms) for later in first.later] == [
        ("GS-02", True, True, 400)
    ]
    assert (first.approved_right, first.approved_wrong) == (3, 0)
    assert (second.placements, second.top1) == (0, None)
    assert [(later.linked, later.approved, later.delay_ms) for later in second.later] == [(True, False, 0)]
    assert third.approved == ("GS-07",)
    assert (third.approved_right, third.approved_wrong) == (0, 1)
    assert [(later.linked, later.delay_ms) for later in third.later] == [(False, None)]
    assert (fourth.placements, fourth.top1) == (1, "GS-08")
    assert [later.linked for later in fourth.later] == [False]
    assert (score.found, score.top1_right) == (3, 2)
    assert (score.later_products, score.later_linked, score.later_approved) == (4, 2, 1)
    assert (score.auto_approved_right, score.auto_approved_wrong) == (3, 1)  # approved placements
    assert score.rates()["later_linked"] == pytest.approx(2 / 4)
    assert score.later_delays_ms() == [0, 400]
    assert score.to_json()["later_delay_ms"] == {"median": 200, "max": 400, "over_1s": 0}


def test_later_products_left_out_of_the_catalog_are_scored_apart() -> None:
    truth = parse_truth(
        [
            {"start_ms": 0, "end_ms": 4000, "sku": "GS-01", "also": [{"sku": "GS-02", "visible_ms": 1000}]},
            {
                "start_ms": 4000,
                "end_ms": 8000,
                "sku": "GS-03",
                "also": [{"sku": "GS-04", "visible_ms": 5000}],
            },
        ]
    )
    placements = [
        ScoredPlacement(0, 3900, ("GS-01",), None),
        # GS-02 is not in the catalog: its placement is approved as another SKU, a wrong product sold.
        ScoredPlacement(1200, 3900, ("GS-09",), "GS-09", confidence=0.81),
        # The shot's own product left out; the later one, in the catalog, approved right.
        ScoredPlacement(5200, 7900, ("GS-04",), "GS-04", confidence=0.82),
    ]

    score = score_episode(truth, placements, left_out={"GS-02", "GS-03"}, auto_approve=0.8)

    first, second = score.shots
    assert [(later.left_out, later.linked) for later in first.later] == [(True, False)]
    assert (first.approved_right, first.approved_wrong) == (0, 1)
    assert second.left_out
    assert (second.approved_right, second.approved_wrong) == (1, 0)
    assert (score.later_products, score.later_linked, score.later_approved) == (1, 1, 1)
    assert score.left_out_auto_approved == 0  # the left-out shot's own placements: none approved
    assert (score.auto_approved_right, score.auto_approved_wrong) == (1, 1)
    # On the edge: the left-out later product's wrong link, and the right link in a left-out shot.
    assert [(edge.sku, edge.right) for edge in score.near_threshold] == [("GS-09", False), ("GS-04", True)]


def test_a_shot_without_later_products_is_scored_as_before() -> None:
    placements = [
        ScoredPlacement(100, 2900, ("GS-01",), "GS-01"),
        ScoredPlacement(3100, 5000, ("GS-02",), None),
    ]

    score = score_episode(TRUTH, placements)

    assert all(shot.later == () for shot in score.shots)
    assert (score.later_products, score.later_linked) == (0, 0)
    assert "later_linked" not in score.rates()
    assert score.to_json()["later_delay_ms"] is None


def _mutations(rng: random.Random, value: object, depth: int = 0) -> object:
    """`value` with random parts replaced by other JSON values (or left as they are)."""
    junk: list[object] = [None, True, 0, -5, 10**12, 1.5, "", " ", "GS-01", [], {}, [1, 2], {"sku": 3}]
    if rng.random() < 0.04 or depth > 4:
        return rng.choice(junk)
    if isinstance(value, dict):
        mutated = {
            key: _mutations(rng, item, depth + 1) for key, item in value.items() if rng.random() > 0.03
        }
        if rng.random() < 0.05:
            mutated[rng.choice(["also", "visible_ms", "sku", "extra"])] = rng.choice(junk)
        return mutated
    if isinstance(value, list):
        return [_mutations(rng, item, depth + 1) for item in value if rng.random() > 0.03]
    return value


def test_fuzzed_truth_documents_are_read_or_refused_with_a_truth_error() -> None:
    valid = [
        {"start_ms": 0, "end_ms": 3000, "sku": "GS-01", "also": [{"sku": "GS-02", "visible_ms": 1500}]},
        {"start_ms": 3000, "end_ms": 6000, "sku": "GS-03", "visible_ms": 3500},
        {"start_ms": 6000, "end_ms": 9000, "sku": None},
    ]
    rng = random.Random(13)
    outcomes = {"read": 0, "refused": 0}
    messages: list[str] = []
    for _ in range(3000):
        document = _mutations(rng, valid)
        try:
            shots = parse_truth(document)
        except TruthError as error:
            messages.append(str(error))
            outcomes["refused"] += 1
        else:
            # What is read is what the scorer relies on.
            assert all(0 <= shot.start_ms < shot.end_ms for shot in shots)
            assert all(
                shot.start_ms <= later.visible_ms < shot.end_ms for shot in shots for later in shot.also
            )
            assert all(shot.sku is not None for shot in shots if shot.also or shot.visible_ms is not None)
            score_episode(shots, [ScoredPlacement(0, 100, ("GS-01",), "GS-01")])
            outcomes["read"] += 1
    assert min(outcomes.values()) > 300  # both kinds of document were tried
    # Each refusal is one line naming what is wrong.
    assert all(message.startswith("truth: ") and "\n" not in message for message in messages)
