"""Player events and the brand's funnel, which must reconcile exactly with stored rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlalchemy import event as sqlalchemy_event
from sqlmodel import Session, select

from api.analytics import service as analytics_service
from api.analytics.models import Event
from api.brands.models import CheckoutProviderName
from api.checkout.models import CheckoutSession, Order
from api.review.models import PlacementStatus
from api.settings import ApiSettings
from tests.api.factories import make_checkout, make_episode, make_paid_order, make_placement, make_product
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
    # and four of them tapped it (a tap, too, counts once per viewer)
    for viewer in range(4):
        taps = {"events": [_event("hotspot_tap", episode.id, hot.id)]}
        assert client.post("/v1/events", json=taps, headers={"User-Agent": f"player/{viewer}"}).json() == {
            "accepted": 1,
            "rejected": [],
        }
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
    cold_stats = next(p for p in report["placements"] if p["placement_id"] == str(cold.id))
    # Seen by three, tapped by none: a tap rate of 0, and no conversion rate (nothing to divide by)
    assert (cold_stats["tap_rate"], cold_stats["conversion"]) == (0.0, None)
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


def test_a_tap_counts_once_per_viewer_so_the_tap_rate_stays_a_share_of_viewers(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, status=PlacementStatus.APPROVED)
    other = make_placement(engine, episode, status=PlacementStatus.APPROVED, start_ms=5000, end_ms=6000)
    # Given one viewer who sees the hotspot once and taps it five times (open, close, open again…)
    seen_and_tapped = [_event("hotspot_impression", episode.id, placement.id)] + [
        _event("hotspot_tap", episode.id, placement.id, click_id=f"c{n}") for n in range(5)
    ]
    first = client.post("/v1/events", json={"events": seen_and_tapped}, headers={"User-Agent": "player/1"})
    # and taps it again in a later batch, then taps the other hotspot
    again = client.post(
        "/v1/events",
        json={"events": [_event("hotspot_tap", episode.id, placement.id)]},
        headers={"User-Agent": "player/1"},
    )
    elsewhere = client.post(
        "/v1/events",
        json={"events": [_event("hotspot_tap", episode.id, other.id)]},
        headers={"User-Agent": "player/1"},
    )
    # and a second viewer who sees it and taps it once
    second = client.post(
        "/v1/events",
        json={"events": seen_and_tapped[:2]},
        headers={"User-Agent": "player/2"},
    )

    # Then the viewer's impression and first tap count (a tap is no repeat of an impression), the
    # repeated taps are reported as duplicates, and a tap on another placement counts
    duplicate = "duplicate tap: this viewer's is already counted"
    assert first.json() == {
        "accepted": 2,
        "rejected": [{"index": index, "reason": duplicate} for index in range(2, 6)],
    }
    assert again.json() == {"accepted": 0, "rejected": [{"index": 0, "reason": duplicate}]}
    assert (elsewhere.json()["accepted"], second.json()["accepted"]) == (1, 2)
    report = client.get(f"/v1/analytics/episodes/{episode.id}", headers=brand.headers).json()
    stats = {p["placement_id"]: p for p in report["placements"]}
    # Two viewers saw it, two tapped it: a rate of 1.0, never above
    assert (stats[str(placement.id)]["impressions"], stats[str(placement.id)]["taps"]) == (2, 2)
    assert stats[str(placement.id)]["tap_rate"] == 1.0
    # The other was tapped without a counted impression: no tap rate rather than a rate of 0
    assert (stats[str(other.id)]["impressions"], stats[str(other.id)]["taps"]) == (0, 1)
    assert stats[str(other.id)]["tap_rate"] is None
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Event)).one() == 5


def test_rates_with_nothing_to_divide_by_are_null_not_zero(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given a placement that sold (a paid order, through a shared link say) but was never seen or tapped
    _, variant = make_product(engine, brand.brand.id, "Cola", sku="COLA")
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, status=PlacementStatus.APPROVED)
    checkout = make_checkout(
        engine, placement, variant.id, click_id="c1", amount="4.99", provider=CheckoutProviderName.STRIPE
    )
    make_paid_order(engine, checkout, provider_event_id="evt_1")

    report = client.get(f"/v1/analytics/episodes/{episode.id}", headers=brand.headers).json()

    # Then its order counts, and its rates say there is no rate: not a conversion of 0 despite a sale
    (stats,) = report["placements"]
    assert (stats["impressions"], stats["taps"], stats["orders_paid"]) == (0, 0, 1)
    assert (stats["tap_rate"], stats["conversion"]) == (None, None)
    # And the schema says so
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PlacementStats"]["properties"]
    for rate in ("tap_rate", "conversion"):
        assert {"type": "null"} in schema[rate]["anyOf"]
        assert "null when" in schema[rate]["description"]


def test_a_brands_report_names_no_placement_in_its_sql_however_many_it_has(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    """A bound parameter per placement passes PostgreSQL's 65,535 per statement for a big brand, and
    every report then failed as "database unavailable": the queries select the brand's placements by a
    subquery instead, so the parameters a statement binds do not grow with the placements."""
    episode = make_episode(engine, brand.brand.id, settings)
    product, _ = make_product(engine, brand.brand.id, "Cola", sku="COLA")
    placements = [
        make_placement(
            engine,
            episode,
            status=PlacementStatus.APPROVED,
            start_ms=1000 * n,
            end_ms=1000 * n + 500,
            chosen_product_id=product.id if n % 2 else None,
        )
        for n in range(40)
    ]
    for n, placement in enumerate(placements[:3]):
        events = [
            _event("hotspot_impression", episode.id, placement.id),
            _event("hotspot_tap", episode.id, placement.id),
        ]
        client.post("/v1/events", json={"events": events}, headers={"User-Agent": f"player/{n}"})
    statements: list[tuple[str, list[Any]]] = []

    def record(
        conn: object,
        cursor: object,
        statement: str,
        parameters: Mapping[str, Any] | Sequence[Any] | None,
        *_: object,
    ) -> None:
        values = parameters.values() if isinstance(parameters, Mapping) else parameters or ()
        statements.append((statement, list(values)))

    sqlalchemy_event.listen(engine, "before_cursor_execute", record)
    try:
        for path in (f"/v1/analytics/episodes/{episode.id}", "/v1/analytics/brands/me"):
            report = client.get(path, headers=brand.headers)
            assert report.status_code == 200
            assert len(report.json()["placements"]) == 40
            assert (report.json()["impressions"], report.json()["taps"]) == (3, 3)
            titles = {p["product_title"] for p in report.json()["placements"]}
            assert titles == {"Cola", None}
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", record)

    placement_ids = {str(p.id) for p in placements} | {p.id.hex for p in placements}
    reading = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith("SELECT")]
    assert reading
    for sql, values in reading:
        bound = {str(value) for value in values} | {
            value.hex for value in values if isinstance(value, uuid.UUID)
        }
        assert not bound & placement_ids, sql
        assert len(values) < len(placements), sql


def test_a_report_on_postgresql_reads_one_moment_however_the_funnel_changes_while_it_is_made(
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's read transaction is one snapshot; READ COMMITTED is PostgreSQL's")
    # Given a hotspot tapped once and its Buy pressed once
    episode = make_episode(engine, brand.brand.id, settings)
    product, variant = make_product(engine, brand.brand.id, "Scarf", sku="SCARF")
    placement = make_placement(engine, episode, status=PlacementStatus.APPROVED, chosen_product_id=product.id)
    pressed = [
        _event("hotspot_tap", episode.id, placement.id, click_id="c1"),
        _event("checkout_started", episode.id, placement.id, click_id="c1"),
    ]
    assert client.post("/v1/events", json={"events": pressed}).status_code == 202

    # When, between the report's reads of the counts and of the Buy presses, another shopper presses Buy
    # and pays (both committed)
    made = analytics_service._checkout_funnel

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not meanwhile.done:  # type: ignore[attr-defined]
            meanwhile.done = True  # type: ignore[attr-defined]
            with Session(engine) as other:
                other.add(
                    Event(
                        type="checkout_started",
                        brand_id=brand.brand.id,
                        episode_id=episode.id,
                        placement_id=placement.id,
                        click_id="c2",
                    )
                )
                other.commit()
            checkout = make_checkout(engine, placement, variant.id, click_id="c2")
            make_paid_order(engine, checkout, provider_event_id="order-meanwhile")
        return made(*args, **kwargs)

    meanwhile.done = False  # type: ignore[attr-defined]
    monkeypatch.setattr(analytics_service, "_checkout_funnel", meanwhile)
    report = client.get(f"/v1/analytics/episodes/{episode.id}", headers=brand.headers).json()

    # Then the report is the funnel as it stood when it began: one tap, one press, no order
    assert (report["taps"], report["checkouts_started"], report["orders_paid"]) == (1, 1, 0)
    # And the next report has the press and the order
    later = client.get(f"/v1/analytics/episodes/{episode.id}", headers=brand.headers).json()
    assert (later["taps"], later["checkouts_started"], later["orders_paid"]) == (1, 2, 1)
