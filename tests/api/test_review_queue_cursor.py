"""The review queue's cursor through HTTP: a keyset over the queue's order, so "Load more" after
approving or rejecting part of a page still shows every proposal that waits, under every filter."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.review.models import PlacementStatus
from api.settings import ApiSettings
from tests.api.factories import make_episode, make_placement, make_product
from tests.utils.api import BrandAccount

QUEUE = "/v1/review/queue"


def _page(client: TestClient, brand: BrandAccount, **params: Any) -> dict[str, Any]:
    response = client.get(
        QUEUE, params={k: v for k, v in params.items() if v is not None}, headers=brand.headers
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def _walk(client: TestClient, brand: BrandAccount, **params: Any) -> list[dict[str, Any]]:
    """Every item, page by page, following `next_cursor` until it is null."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = _page(client, brand, cursor=cursor, **params)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ended")


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def _act(client: TestClient, brand: BrandAccount, item: dict[str, Any], action: str) -> None:
    response = client.post(
        f"/v1/placements/{item['id']}/{action}",
        headers={**brand.headers, "If-Match": f'"{item["version"]}"'},
    )
    assert response.status_code == 200, response.text


def test_load_more_after_reviewing_part_of_the_first_page_shows_the_proposals_ranked_after_it(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given 60 proposals, each linked above the floor to a catalog product (so each can be approved)
    product, _ = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-330", price="1.20")
    episode = make_episode(engine, brand.brand.id, settings, duration_ms=600_000)
    for i in range(60):
        make_placement(
            engine,
            episode,
            link_confidence=0.31 + 0.01 * i,
            start_ms=i * 1000,
            end_ms=i * 1000 + 2000,
            candidates=[product],
        )

    # And the reviewer's first page of 50
    first = _page(client, brand, status="proposed")
    assert (len(first["items"]), first["total"]) == (50, 60)
    assert first["next_cursor"] is not None
    ranked_after = _ids(_walk(client, brand, status="proposed"))[50:]
    assert len(ranked_after) == 10

    # When 10 of them are reviewed, the page's last one among them (the item the cursor was issued after)
    reviewed = first["items"][:4] + first["items"][20:25] + first["items"][-1:]
    for n, item in enumerate(reviewed):
        _act(client, brand, item, "approve" if n % 2 else "reject")

    # And "Load more" follows the first page's cursor
    more = _page(client, brand, status="proposed", cursor=first["next_cursor"])

    # Then it shows the 10 proposals ranked after the first page, and says nothing follows
    assert _ids(more["items"]) == ranked_after
    assert more["next_cursor"] is None
    assert more["total"] == 50
    # And the console's list (the first page less what was reviewed, then the next) is all that waits
    left_on_first = [item["id"] for item in first["items"] if item not in reviewed]
    assert left_on_first + _ids(more["items"]) == _ids(_page(client, brand, limit=200)["items"])


def test_pages_follow_the_queue_order_through_every_tie(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given proposals that tie on every key but the id: unlinked ones, equal confidences, equal spans
    episode = make_episode(engine, brand.brand.id, settings, duration_ms=600_000)
    for confidence in [None, None, None, 0.4, 0.4, 0.4, 0.4, 0.55, 0.9, 0.9, 1.0, 0.0]:
        for span in (1000, 3000, 3000):
            make_placement(engine, episode, link_confidence=confidence, start_ms=500, end_ms=500 + span)

    # When the queue is read three items at a time
    one_page = _page(client, brand, limit=200)
    walked = _walk(client, brand, limit=3)

    # Then the pages together are the queue, in its order, each placement once
    assert _ids(walked) == _ids(one_page["items"])
    assert len(set(_ids(walked))) == one_page["total"] == 36
    keys = [
        (
            item["link_confidence"] is not None,
            item["link_confidence"] or 0.0,
            item["start_ms"] - item["end_ms"],
        )
        for item in walked
    ]
    assert keys == sorted(keys)
    # And within a tie the id decides, as the database orders its ids
    tied = [uuid.UUID(item["id"]) for item in walked if item["link_confidence"] == 0.4]
    assert tied[:8] == sorted(tied[:8])


def test_the_cursor_pages_within_each_filter(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    # Given two episodes with proposals, approvals and rejections, and another brand's proposals
    first = make_episode(engine, brand.brand.id, settings)
    second = make_episode(engine, brand.brand.id, settings)
    theirs = make_episode(engine, other_brand.brand.id, settings)
    for i in range(7):
        for episode in (first, second, theirs):
            for status in (PlacementStatus.PROPOSED, PlacementStatus.APPROVED, PlacementStatus.REJECTED):
                make_placement(
                    engine,
                    episode,
                    status=status,
                    link_confidence=None if i == 0 else 0.1 * i,
                    end_ms=2000 + 100 * (i % 3),
                )

    filters: list[dict[str, Any]] = [
        {},
        {"status": "approved"},
        {"status": "rejected"},
        {"episode_id": str(first.id)},
        {"episode_id": str(second.id), "status": "approved"},
    ]
    for params in filters:
        # When each filter's queue is read two items at a time
        walked = _walk(client, brand, limit=2, **params)

        # Then the pages are exactly that filter's queue, in its order
        whole = _page(client, brand, limit=200, **params)
        assert _ids(walked) == _ids(whole["items"]), params
        assert len(walked) == whole["total"] == (7 if "episode_id" in params else 14), params
        assert {item["status"] for item in walked} == {params.get("status", "proposed")}, params
        if "episode_id" in params:
            assert {item["episode_id"] for item in walked} == {params["episode_id"]}, params


def _cursor(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


ANY_ID = uuid.UUID(int=7).hex


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor({"o": 50}),  # an offset cursor, as this API issued before its cursors were keysets
        _cursor({"c": 0.5, "d": 3000}),
        _cursor({"c": 0.5, "d": 3000, "i": ANY_ID, "o": 1}),
        _cursor({"c": "0.5", "d": 3000, "i": ANY_ID}),
        _cursor({"c": 1, "d": 3000, "i": ANY_ID}),
        _cursor({"c": True, "d": 3000, "i": ANY_ID}),
        base64.urlsafe_b64encode(f'{{"c": Infinity, "d": 3000, "i": "{ANY_ID}"}}'.encode()).decode(),
        base64.urlsafe_b64encode(f'{{"c": NaN, "d": 3000, "i": "{ANY_ID}"}}'.encode()).decode(),
        _cursor({"c": 0.5, "d": 2**31, "i": ANY_ID}),
        _cursor({"c": 0.5, "d": -(2**63), "i": ANY_ID}),
        _cursor({"c": 0.5, "d": 3000.0, "i": ANY_ID}),
        _cursor({"c": 0.5, "d": 3000, "i": "not-a-uuid"}),
        _cursor({"c": 0.5, "d": 3000, "i": 7}),
        _cursor([0.5, 3000, ANY_ID]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "garbage",
    ],
)
def test_a_cursor_this_api_did_not_issue_is_a_422_naming_the_cursor(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, cursor: str
) -> None:
    make_placement(engine, make_episode(engine, brand.brand.id, settings))
    response = client.get(QUEUE, params={"cursor": cursor}, headers=brand.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert [error["field"] for error in body["errors"]] == ["cursor"], body
    assert "cursor" in body["detail"]


@pytest.mark.parametrize(
    "document",
    [
        {"c": 1e308, "d": -(2**31 - 1), "i": ANY_ID},
        {"c": -1e308, "d": 2**31 - 1, "i": uuid.UUID(int=2**128 - 1).hex},
        {"c": None, "d": 0, "i": uuid.UUID(int=0).hex},
    ],
)
def test_a_well_formed_cursor_at_the_ends_of_each_key_answers_a_page(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, document: dict[str, Any]
) -> None:
    make_placement(engine, make_episode(engine, brand.brand.id, settings))
    response = client.get(QUEUE, params={"cursor": _cursor(document)}, headers=brand.headers)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1
