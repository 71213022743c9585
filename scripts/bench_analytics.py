"""How long a brand waits for its results, at scale: the analytics routes over millions of events.

The review console reads `GET /v1/analytics/brands/me` each time a brand opens its episodes, and
`GET /v1/analytics/episodes/{id}` for an episode's results; both count the stored player events (one row
per hotspot impression, tap, sheet open and Buy press, impressions and taps once per viewer in the dedupe
window) with checkouts and orders. This fills a throw-away database with one brand of `--episodes`
episodes of `--per-episode` approved placements and `--events` events spread over them (impressions,
a tenth as many taps, fewer opens and Buy presses; `--orders` paid orders, a tenth refunded in part),
another brand with as many events (the queries must not read them), then times each route `--repeat`
times through the API (for all time and, unless `--no-ranges`, for the last 7 and 30 days).

    .venv/bin/python scripts/bench_analytics.py [--events 1000000] [--episodes 20] [--per-episode 10] \\
        [--orders 2000] [--repeat 5] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres] \\
        [--vacuum] [--no-ranges] [--alternate-from REV [--rounds 2]] [--json var/bench/analytics.json]

Without `--postgres` the database is a SQLite file; with it, a database made on that server for the run
and dropped after.

`--alternate-from REV` also compares the schema at an older revision with the newest on the same data in
the same run, so that neither a faster machine nor a quieter minute reads as a gain: after the timings
above, the database is taken down to REV and up again `--rounds` times (each migration timed), and at
each stop the operator's recount and check, the players' batches and the brand's and an episode's
all-time reports are timed again. REV must be one the
current code runs on (0030 or newer); the code is the same at both, only the schema differs.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.analytics.counting import count_mismatches, recount_events
from api.analytics.models import Event
from api.app import create_app
from api.auth import issue_api_key
from api.brands.models import ApiKeyScope, Brand, CheckoutProviderName
from api.catalog.models import Product, Variant
from api.checkout.models import CheckoutSession, Order
from api.db import alembic_config, create_db_engine, upgrade_database
from api.episodes.models import Episode, EpisodeStatus
from api.jobs.queue import InlineJobQueue
from api.review.models import Placement, PlacementStatus
from api.settings import get_settings

CHUNK = 20_000
# Of every 1,000 events: what a player reports of hotspots people watch (most are only seen).
MIX = (("hotspot_impression", 850), ("hotspot_tap", 90), ("sheet_open", 40), ("checkout_started", 20))


def cpu_flags() -> str:
    words = set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").exists() else set()
    return " ".join(flag for flag in ("avx2", "avx512f", "avx512_vnni") if flag in words) or "none"


@contextmanager
def throwaway_database(args: argparse.Namespace, scratch: Path) -> Iterator[str]:
    if not args.postgres:
        yield f"sqlite:///{scratch / 'analytics.db'}"
        return
    name = f"reelcart_bench_{secrets.token_hex(4)}"
    server = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def seed_brand(
    engine: Engine, slug: str, args: argparse.Namespace, draw: random.Random
) -> tuple[str, uuid.UUID]:
    """One brand's episodes, placements, events, checkouts and orders; its API key and first episode."""
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(name=slug.title(), slug=slug)
        session.add(brand)
        session.flush()
        key = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name=f"{slug}-bench").secret
        product = Product(brand_id=brand.id, title="Oat Drink", vendor="Bench")
        session.add(product)
        session.flush()
        variant = Variant(
            product_id=product.id,
            brand_id=brand.id,
            sku=f"{slug}-1",
            title="1 l",
            price=Decimal("2.49"),
            currency="EUR",
        )
        session.add(variant)
        placements: list[Placement] = []
        episodes: list[Episode] = []
        for n in range(args.episodes):
            episode = Episode(
                brand_id=brand.id,
                title=f"Episode {n}",
                media_path="/dev/null",
                size_bytes=0,
                duration_ms=90_000,
                fps=30.0,
                time_base="1/15360",
                width=1080,
                height=1920,
                codec="h264",
                status=EpisodeStatus.TAGGED,
            )
            session.add(episode)
            session.flush()
            episodes.append(episode)
            for k in range(args.per_episode):
                placement = Placement(
                    brand_id=brand.id,
                    episode_id=episode.id,
                    start_ms=k * 3000,
                    end_ms=k * 3000 + 2500,
                    start_frame=k * 90,
                    end_frame=k * 90 + 75,
                    label="bottle",
                    confidence=0.9,
                    keyframes=[{"t_ms": k * 3000, "box": [0.3, 0.3, 0.3, 0.4]}],
                    sku_candidates=[],
                    chosen_product_id=product.id,
                    status=PlacementStatus.APPROVED,
                )
                session.add(placement)
                placements.append(placement)
        session.flush()
        session.commit()
    kinds = [kind for kind, share in MIX for _ in range(share)]
    since = datetime.now(UTC) - timedelta(days=30)
    rows: list[dict[str, Any]] = []
    table = Event.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        for n in range(args.events):
            placement = placements[draw.randrange(len(placements))]
            kind = kinds[draw.randrange(len(kinds))]
            at = since + timedelta(seconds=draw.randrange(30 * 86400))
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "type": kind,
                    "brand_id": placement.brand_id,
                    "episode_id": placement.episode_id,
                    "placement_id": placement.id,
                    "click_id": f"c{n}" if kind == "checkout_started" else None,
                    "t_ms": placement.start_ms,
                    "occurred_at": at,
                    "received_at": at,
                }
            )
            if len(rows) == CHUNK:
                connection.execute(table.insert(), rows)
                rows.clear()
        if rows:
            connection.execute(table.insert(), rows)
    with Session(engine) as session:
        for n in range(args.orders):
            placement = placements[draw.randrange(len(placements))]
            checkout = CheckoutSession(
                brand_id=placement.brand_id,
                click_id=f"c-order-{slug}-{n}",
                placement_id=placement.id,
                episode_id=placement.episode_id,
                variant_id=variant.id,
                quantity=1,
                provider=CheckoutProviderName.STRIPE,
                amount=Decimal("2.49"),
                currency="EUR",
            )
            session.add(checkout)
            session.flush()
            session.add(
                Order(
                    brand_id=placement.brand_id,
                    provider=CheckoutProviderName.STRIPE,
                    provider_event_id=f"evt_{slug}_{n}",
                    checkout_session_id=checkout.id,
                    placement_id=placement.id,
                    episode_id=placement.episode_id,
                    amount=Decimal("2.49"),
                    currency="EUR",
                    refunded_amount=Decimal("1.00") if n % 10 == 0 else Decimal(0),
                )
            )
        session.commit()
    return key, episodes[0].id


def timed(client: TestClient, path: str, key: str, repeat: int) -> dict[str, Any]:
    seconds = []
    answer: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, headers={"Authorization": f"Bearer {key}"})
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
        answer = response.json()
    return {
        "median_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
        "impressions": answer["impressions"],
        "orders_paid": answer["orders_paid"],
        "placements": len(answer["placements"]),
    }


def timed_ingest(client: TestClient, engine: Engine, episode_id: uuid.UUID, batches: int) -> dict[str, Any]:
    """What a player's batch of 20 events costs to store (and count): `POST /v1/events` `batches` times,
    each sheet opens (never refused as a viewer's repeat) on the episode's placements."""
    with Session(engine) as session:
        placement_ids = session.exec(select(Placement.id).where(Placement.episode_id == episode_id)).all()
    seconds = []
    for n in range(batches):
        events = [
            {
                "type": "sheet_open",
                "episode_id": str(episode_id),
                "placement_id": str(placement_ids[(n + k) % len(placement_ids)]),
            }
            for k in range(20)
        ]
        started = time.perf_counter()
        response = client.post("/v1/events", json={"events": events})
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
        assert response.json()["accepted"] == 20, response.text
    return {
        "batches": batches,
        "events_per_batch": 20,
        "median_ms": round(1000 * statistics.median(seconds), 2),
    }


def timed_recount_and_check(engine: Engine) -> dict[str, float]:
    """`reelcart analytics recount`, then `reelcart analytics check` (which must then find nothing)."""
    started = time.perf_counter()
    with Session(engine) as session:
        recount_events(session)
        session.commit()
    recount_s = time.perf_counter() - started
    started = time.perf_counter()
    with Session(engine) as session:
        check = count_mismatches(session)
    check_s = time.perf_counter() - started
    if check.mismatches:
        raise SystemExit(f"the counts disagree with the events after a recount: {check}")
    return {"recount_s": round(recount_s, 2), "check_s": round(check_s, 2)}


def timed_migration(engine: Engine, revision: str) -> float:
    """Seconds to take the schema to `revision` (down or up)."""
    started = time.perf_counter()
    config = alembic_config(engine)
    if revision == "head":
        command.upgrade(config, "head")
    else:
        command.downgrade(config, revision)
    return round(time.perf_counter() - started, 2)


def alternate(
    args: argparse.Namespace, engine: Engine, client: TestClient, key: str, episode_id: uuid.UUID
) -> dict[str, Any]:
    """The same data at `--alternate-from` and at the newest revision, `--rounds` times each, in turn."""
    stops: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        for revision in (args.alternate_from, "head"):
            migration_s = timed_migration(engine, revision)
            stops.append(
                {
                    "revision": revision,
                    "migration_s": migration_s,
                    **timed_recount_and_check(engine),
                    "ingest_median_ms": timed_ingest(client, engine, episode_id, args.batches)["median_ms"],
                    "brand_totals_s": timed(client, "/v1/analytics/brands/me", key, args.repeat)["median_s"],
                    "one_episode_s": timed(client, f"/v1/analytics/episodes/{episode_id}", key, args.repeat)[
                        "median_s"
                    ],
                }
            )

    def unrounded(revision: str, key: str) -> float:
        return float(statistics.median(stop[key] for stop in stops if stop["revision"] == revision))

    def median(revision: str, key: str) -> float:
        return round(unrounded(revision, key), 3)

    keys = ("recount_s", "check_s", "ingest_median_ms", "brand_totals_s", "one_episode_s")
    return {
        "from": args.alternate_from,
        "stops": stops,
        "median": {
            revision: {key: median(revision, key) for key in keys}
            for revision in (args.alternate_from, "head")
        },
        # None where REV's median is 0 (a tiny run): nothing to compare, rather than the run failing
        "head_over_from": {
            key: round(unrounded("head", key) / unrounded(args.alternate_from, key), 2)
            if unrounded(args.alternate_from, key)
            else None
            for key in keys
        },
    }


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    draw = random.Random(args.seed)
    with throwaway_database(args, scratch) as url:
        settings = get_settings().model_copy(
            update={
                "database_url": url,
                "media_dir": scratch / "media",
                "worker_threads": 0,
                # One client posts every batch: a player's limits would refuse most of them.
                "rate_limit_enabled": False,
            }
        )
        engine = create_db_engine(url)
        upgrade_database(engine)
        started = time.perf_counter()
        key, episode_id = seed_brand(engine, "bench", args, draw)
        seed_brand(engine, "neighbour", args, draw)
        # The events went in as rows, as a release before the counts stored them: counted as
        # `reelcart analytics recount` (and migration 0028) count them.
        operator = timed_recount_and_check(engine)
        if engine.dialect.name == "postgresql" and args.vacuum:
            # What autovacuum leaves after a burst of inserts (PostgreSQL 13+ vacuums insert-only tables
            # too): statistics, and the visibility map that lets a count read the index alone.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE"))
        elif engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(sa.text("ANALYZE"))
        seeded_s = time.perf_counter() - started
        with TestClient(create_app(settings, engine=engine, job_queue=InlineJobQueue({}))) as client:
            brand = timed(client, "/v1/analytics/brands/me", key, args.repeat)
            episode = timed(client, f"/v1/analytics/episodes/{episode_id}", key, args.repeat)
            # The console's "the last 7 days" and "the last 30 days" (the events span 30 days): read from
            # the day counts, for a release that has them (`--ranges`).
            today = datetime.now(UTC).date()
            ranged = {
                f"brand_last_{days}_days": timed(
                    client,
                    f"/v1/analytics/brands/me?since={today - timedelta(days=days - 1)}",
                    key,
                    args.repeat,
                )
                for days in ((7, 30) if args.ranges else ())
            }
            ingest = timed_ingest(client, engine, episode_id, args.batches)
            compared = {}
            if args.alternate_from:
                compared["alternated"] = alternate(args, engine, client, key, episode_id)
        engine.dispose()
    return {
        "database": url.split(":", 1)[0],
        "events_per_brand": args.events,
        "placements_per_brand": args.episodes * args.per_episode,
        "orders_per_brand": args.orders,
        "seeded_s": round(seeded_s, 1),
        "vacuumed": bool(args.vacuum) and url.startswith("postgresql"),
        "brand_totals": brand,
        **ranged,
        "one_episode": episode,
        **operator,
        "ingest": ingest,
        **compared,
        "cpu": f"{platform.processor() or platform.machine()}; {cpu_flags()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events per brand")
    parser.add_argument("--batches", type=int, default=200, help="event batches posted to time storing them")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--per-episode", type=int, default=10, help="approved placements per episode")
    parser.add_argument("--orders", type=int, default=2000, help="paid orders per brand")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", help="a server URL: a throw-away database is made there for the run")
    parser.add_argument(
        "--vacuum", action="store_true", help="PostgreSQL: VACUUM ANALYZE after seeding (else ANALYZE only)"
    )
    parser.add_argument(
        "--no-ranges",
        dest="ranges",
        action="store_false",
        help="leave out the reports for the last 7 and 30 days (a release from before migration 0030)",
    )
    parser.add_argument(
        "--alternate-from",
        metavar="REV",
        help="also time recount, check and storing batches at REV and at the newest revision, in turn",
    )
    parser.add_argument("--rounds", type=int, default=2, help="with --alternate-from: stops at each revision")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelcart-bench-analytics-") as scratch:
        result = run(args, Path(scratch))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
