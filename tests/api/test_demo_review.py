"""The demo's reviewer: approves a proposal only when its shot shows the linker's first candidate."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.auth import issue_api_key
from api.brands.models import ApiKeyScope
from api.cli.demo_review import DemoDecision, ReviewedPlacement, review_demo_episode, shot_of
from api.review.models import PlacementStatus, ReviewAction
from api.settings import ApiSettings
from tests.api.factories import make_episode, make_placement, make_product
from tests.utils.api import BrandAccount


def test_a_placement_belongs_to_the_shot_holding_its_midpoint() -> None:
    assert [shot_of(0, 2999, 3000), shot_of(2500, 4000, 3000), shot_of(2000, 3000, 3000)] == [0, 1, 0]


def test_the_reviewer_approves_what_its_shots_show_and_leaves_the_rest(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    juice, _ = make_product(engine, brand.brand.id, "Orange Juice", sku="OJ-1")
    milk, _ = make_product(engine, brand.brand.id, "Oat Milk", sku="OAT-1")
    episode = make_episode(engine, brand.brand.id, settings)
    # Shot 1 (0-3 s) shows the juice, shot 2 (3-6 s) the milk.
    auto = make_placement(
        engine,
        episode,
        start_ms=0,
        end_ms=1000,
        link_confidence=0.9,
        candidates=[juice],
        status=PlacementStatus.APPROVED,
        chosen_product_id=juice.id,
    )
    shown = make_placement(
        engine, episode, start_ms=500, end_ms=2500, link_confidence=0.55, candidates=[juice]
    )
    elsewhere = make_placement(
        engine, episode, start_ms=3200, end_ms=5000, link_confidence=0.7, candidates=[juice]
    )
    weak = make_placement(engine, episode, start_ms=3300, end_ms=5500, link_confidence=0.1, candidates=[milk])
    unlinked = make_placement(engine, episode, start_ms=3400, end_ms=5900, link_confidence=None)
    with Session(engine, expire_on_commit=False) as session:
        key = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.brand.id, name="demo")
        session.commit()

    reviewed = review_demo_episode(
        engine,
        settings,
        brand_id=brand.brand.id,
        episode_id=episode.id,
        shot_products=[frozenset({juice.id}), frozenset({milk.id})],
        shot_ms=3000,
        key=key,
    )

    assert reviewed == [
        ReviewedPlacement(
            0,
            1000,
            "Orange Juice",
            0.9,
            DemoDecision.AUTO_APPROVED,
            "above the brand's threshold, with print evidence",
        ),
        ReviewedPlacement(
            500, 2500, "Orange Juice", 0.55, DemoDecision.APPROVED_BY_REVIEWER, "shot 1 shows this product"
        ),
        ReviewedPlacement(
            3200, 5000, "Orange Juice", 0.7, DemoDecision.LEFT_FOR_REVIEW, "shot 2 does not show this product"
        ),
        ReviewedPlacement(
            3300,
            5500,
            "Oat Milk",
            0.1,
            DemoDecision.LEFT_FOR_REVIEW,
            "no link above the brand's floor (0.30)",
        ),
        ReviewedPlacement(
            3400,
            5900,
            "unknown product",
            None,
            DemoDecision.LEFT_FOR_REVIEW,
            "no link above the brand's floor (0.30)",
        ),
    ]
    timeline = client.get(f"/v1/episodes/{episode.id}/timeline").json()
    assert sorted(item["id"] for item in timeline["placements"]) == sorted([str(auto.id), str(shown.id)])
    with Session(engine) as session:
        actions = session.exec(select(ReviewAction).where(ReviewAction.placement_id == shown.id)).all()
        assert [(action.action, action.actor) for action in actions] == [("approve", "key:demo")]
        for untouched in (elsewhere, weak, unlinked):
            row = session.get(type(untouched), untouched.id)
            assert row is not None
            assert row.status == PlacementStatus.PROPOSED
