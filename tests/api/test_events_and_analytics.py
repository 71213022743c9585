"""Player events and the brand's funnel, which must reconcile exactly with stored rows."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from api.analytics.models import Event
from api.brands.models import CheckoutProviderName
from api.checkout.models import CheckoutSession, Order
from api.review.models import PlacementStatus
from api.settings import ApiSettings
from tests.api.factories import make_episode, make_placement, make_product
from tests.utils.api import BrandAccount


def _event(kind: str, episode: uuid.UUID, placement: uuid.UUID | None, **extra: object) -> dict[str, object]:
    return {
        "type": kind,
        "episode_id": str(episode),
        "placement_id": str(placement) if placement else None,
        "t_ms": 1200,
        **extra,
    }


def test_events_are_recorded_and_bad_ones_reported(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    other = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, status=PlacementStatus.APPROVED)
    batch = {
        "events": [
            _event("hotspot_impression", episode.id, placement.id),
            _event("hotspot_tap", episode.id, placement.id, click_id="c1"),
            _event("hotspot_tap", other.id, placement.id),
            _event("hotspot_tap", uuid.uuid4(), placement.id),
            _event("sheet_open", episode.id, None),
        ]
    }
    # sendBeacon may send text/plain; both are accepted.
    response = client.post("/v1/events", content=json.dumps(batch), headers={"Content-Type": "text/plain"})
    assert response.status_code == 202
    assert response.json() == {
        "accepted": 2,
        "rejected": [
            {"index": 2, "reason": "placement is not in this episode"},
            {"index": 3, "reason": "unknown episode"},
            {"index": 4, "reason": "sheet_open needs a placement_id"},
        ],
    }
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Event)).one() == 2


def test_malformed_or_oversized_batches_are_refused(client: TestClient) -> None:
    assert (
        client.post("/v1/events", content=b"{nope", headers={"Content-Type": "application/json"}).status_code
        == 422
    )
    unknown = {"events": [{"type": "hotspot_hover", "episode_id": str(uuid.uuid4())}]}
    assert client.post("/v1/events", json=unknown).status_code == 422
    too_many = {"events": [_event("hotspot_tap", uuid.uuid4(), uuid.uuid4())] * 201}
    assert client.post("/v1/events", json=too_many).status_code == 422
    assert client.post("/v1/events", json={"events": []}).status_code == 422


def test_funnel_reconciles_with_events_checkouts_and_orders(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    product, variant = make_product(engine, brand.brand.id, "Cola", sku="COLA")
    episode = make_episode(engine, brand.brand.id, settings)
    hot = make_placement(engine, episode, status=PlacementStatus.APPROVED, chosen_product_id=product.id)
    cold = make_placement(engine, episode, status=PlacementStatus.APPROVED, start_ms=5000, end_ms=6000)
    # Ten viewers (an impression counts once per viewer) saw the hot placement, three the cold one
    for viewer in range(10):
        seen = [_event("hotspot_impression", episode.id, hot.id)]
        seen += [_event("hotspot_impression", episode.id, cold.id)] if viewer < 3 else []
        posted = client.post("/v1/events", json={"events": seen}, headers={"User-Agent": f"player/{viewer}"})
        assert posted.json()["accepted"] == len(seen)
    taps = [_event("hotspot_tap", episode.id, hot.id)] * 4
    assert client.post("/v1/events", json={"events": taps}).json()["accepted"] == 4
    with Session(engine) as session:
        for number in range(3):
            checkout = CheckoutSession(
                brand_id=brand.brand.id,
                click_id=f"c{number}",
                placement_id=hot.id,
                episode_id=episode.id,
                variant_id=variant.id,
                quantity=1,
                provider=CheckoutProviderName.STRIPE,
                amount=Decimal("4.99"),
                currency="EUR",
            )
            session.add(checkout)
            session.flush()
            if number < 2:
                session.add(
                    Order(
                        brand_id=brand.brand.id,
                        provider=CheckoutProviderName.STRIPE,
                        provider_event_id=f"evt_{number}",
                        checkout_session_id=checkout.id,
                        placement_id=hot.id,
                        episode_id=episode.id,
                        amount=Decimal("4.99"),
                        currency="EUR",
                    )
                )
        session.commit()
    report = client.get(f"/v1/analytics/episodes/{episode.id}", headers=brand.headers).json()
    assert (
        report["impressions"],
        report["taps"],
        report["checkouts_started"],
        report["checkouts_opened"],
        report["checkouts_failed"],
        report["orders_paid"],
        report["revenue"],
    ) == (13, 4, 3, 3, 0, 2, {"EUR": "9.98"})
    hot_stats = next(p for p in report["placements"] if p["placement_id"] == str(hot.id))
    assert hot_stats == {
        **hot_stats,
        "impressions": 10,
        "taps": 4,
        "tap_rate": 0.4,
        "checkouts_started": 3,
        "checkouts_opened": 3,
        "checkouts_failed": 0,
        "checkout_failures": {},
        "orders_paid": 2,
        "conversion": 0.5,
        "product_title": "Cola",
    }
    assert client.get("/v1/analytics/brands/me", headers=brand.headers).json()["orders_paid"] == 2
    assert client.get(f"/v1/analytics/episodes/{episode.id}", headers=other_brand.headers).status_code == 404
    assert client.get("/v1/analytics/brands/me", headers=other_brand.headers).json()["orders_paid"] == 0
