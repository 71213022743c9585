"""How long a brand waits for a change of its linking settings, at scale: the preview and the job.

A throw-away database (SQLite by default, or `--database-url`) holds one brand with `--episodes`
episodes of `--per-episode` placements each, every one linked (as tag jobs link them now) with what its
decision weighed kept: confidences drawn from 0.5 to 1.0 with print evidence, approved by the linker at
the default level (0.8). Then, for each level in `--levels` (in order):

- `POST /v1/brands/me/linking-preview` with that level, through the API (timed);
- `PATCH /v1/brands/me` and the `decide_only` job it queues, run here by the real executor (timed, by
  phase), with a linker that refuses to link: every placement must be decided from its stored link;
- the job's approvals and withdrawals compared with the preview's counts (they must agree).

    .venv/bin/python scripts/bench_settings_decide.py [--episodes 10] [--per-episode 1000] \\
        [--levels 0.9,0.7,0.8] [--batch 200] [--database-url postgresql+psycopg://…] \\
        [--json var/bench/settings-decide.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

import api.linking.executor as executor_module
from api.app import create_app
from api.auth import issue_api_key
from api.brands.models import ApiKeyScope, Brand
from api.catalog.models import Product, ProductImage
from api.db import create_db_engine, upgrade_database
from api.episodes.models import Episode
from api.jobs.queue import InlineJobQueue, JobKind
from api.linking.executor import LinkJobExecutor
from api.linking.models import LinkJob
from api.linking.service import BrandLinker, IndexProgress, brand_thresholds, current_scorer, index_folder
from api.review.models import Placement, PlacementStatus
from api.settings import get_settings
from tagger.linking import LinkResult, LinkThresholds
from tagger.linking.decision import DecisionInputs

INDEX = "bench-index"
REASON = "crop 1: its print matched (40 keypoints)"


class RefusingLinker:
    """A settings job must decide every placement here from its stored link: linking one fails it."""

    def link_track(self, crops: Sequence[Any], thresholds: LinkThresholds | None = None) -> LinkResult:
        raise AssertionError("the settings job linked a placement again instead of deciding it")


class StoredIndexSource:
    """The brand's linker over an index that has not changed since the placements were linked."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def brand_linker(self, brand_id: uuid.UUID, *, on_progress: IndexProgress | None = None) -> BrandLinker:
        with Session(self.engine) as session:
            thresholds = brand_thresholds(session.get_one(Brand, brand_id))
        return BrandLinker(RefusingLinker(), thresholds, {}, INDEX, current_scorer())


def build(engine: Any, media: Path, episodes: int, per_episode: int, seed: int) -> tuple[uuid.UUID, str]:
    """The brand, its catalog (50 products with a packshot each) and its linked placements; the key."""
    draw = random.Random(seed)
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(name="Bench", slug="bench")
        session.add(brand)
        session.flush()
        products = []
        for number in range(50):
            product = Product(brand_id=brand.id, title=f"Product {number}")
            session.add(product)
            session.flush()
            session.add(ProductImage(product_id=product.id, brand_id=brand.id, path=str(media / "p.png")))
            products.append(product)
        key = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name="bench").secret
        scorer = current_scorer()  # as the API's linker scores: the preview and the job decide them again
        for number in range(episodes):
            episode = Episode(
                brand_id=brand.id,
                title=f"episode {number}",
                media_path=f"/media/{number}.mp4",
                duration_ms=per_episode * 100 + 2000,
                fps=30.0,
                time_base="1/30",
                width=1080,
                height=1920,
            )
            session.add(episode)
            session.flush()
            for index in range(per_episode):
                confidence = round(draw.uniform(0.5, 1.0), 4)
                inputs = DecisionInputs(confidence, True, REASON, scorer=scorer)
                product = draw.choice(products)
                approved = confidence >= 0.8
                start = index * 100
                session.add(
                    Placement(
                        brand_id=brand.id,
                        episode_id=episode.id,
                        start_ms=start,
                        end_ms=start + 2000,
                        start_frame=start * 30 // 1000,
                        end_frame=(start + 2000) * 30 // 1000,
                        label="bottle",
                        confidence=0.9,
                        keyframes=[{"t_ms": start, "box": [0.1, 0.2, 0.3, 0.4]}],
                        sku_candidates=[
                            {
                                "product_id": str(product.id),
                                "variant_id": None,
                                "title": product.title,
                                "confidence": confidence,
                            }
                        ],
                        link_confidence=confidence,
                        link_evidence=REASON,
                        link_approval_level=0.8,
                        link_inputs=inputs.stored(),
                        status=PlacementStatus.APPROVED if approved else PlacementStatus.PROPOSED,
                        chosen_product_id=product.id if approved else None,
                        approved_by_linker=approved,
                        index_version=INDEX,
                    )
                )
            session.commit()
        return brand.id, key


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    url = args.database_url or f"sqlite:///{scratch / 'bench.db'}"
    settings = get_settings().model_copy(
        update={"database_url": url, "media_dir": scratch / "media", "worker_threads": 0}
    )
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(url)
    upgrade_database(engine)
    started = time.perf_counter()
    brand_id, key = build(engine, settings.media_dir, args.episodes, args.per_episode, args.seed)
    built_s = time.perf_counter() - started
    headers = {"Authorization": f"Bearer {key}"}
    executor = LinkJobExecutor(engine, settings, StoredIndexSource(engine))
    # The catalog index the placements were linked against, saved as the brand's current one.
    folder = index_folder(settings, brand_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "CURRENT").write_text(INDEX, encoding="utf-8")
    queue = InlineJobQueue({JobKind.LINK: lambda _job_id: None})  # run below, timed on its own
    rounds = []
    with TestClient(create_app(settings, engine=engine, job_queue=queue)) as client:
        for level in args.levels:
            body = {"auto_approve_threshold": level}
            started = time.perf_counter()
            answer = client.post("/v1/brands/me/linking-preview", json=body, headers=headers)
            preview_s = time.perf_counter() - started
            answer.raise_for_status()
            preview = answer.json()
            changed = client.patch("/v1/brands/me", json=body, headers=headers)
            changed.raise_for_status()
            job_id = uuid.UUID(changed.headers["Link"].split(">")[0].rsplit("/", 1)[1])
            started = time.perf_counter()
            executor(job_id)
            job_s = time.perf_counter() - started
            with Session(engine) as session:
                job = session.get_one(LinkJob, job_id)
                counts = (job.auto_approved, job.withdrawn)
                rounds.append(
                    {
                        "level": level,
                        "preview_s": round(preview_s, 3),
                        "would_approve": preview["would_approve"],
                        "would_withdraw": preview["would_withdraw"],
                        "job_s": round(job_s, 2),
                        "job": {
                            "state": job.state,
                            "error": job.error,
                            "redecided": job.redecided,
                            "relinked": job.placements_relinked,
                            "auto_approved": job.auto_approved,
                            "withdrawn": job.withdrawn,
                            "seconds": job.seconds,
                        },
                        "ms_per_placement": round(1000 * job_s / max(job.redecided, 1), 3),
                        "preview_agrees": counts == (preview["would_approve"], preview["would_withdraw"]),
                    }
                )
            print(json.dumps(rounds[-1]), flush=True)
    engine.dispose()
    return {
        "database": url.split(":", 1)[0],
        "batch": args.batch,
        "placements": args.episodes * args.per_episode,
        "episodes": args.episodes,
        "built_s": round(built_s, 1),
        "cpu": platform.processor() or platform.machine(),
        "rounds": rounds,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--per-episode", type=int, default=1000)
    parser.add_argument(
        "--levels", type=lambda text: [float(part) for part in text.split(",")], default=[0.9, 0.7, 0.8]
    )
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a scratch folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--batch",
        type=int,
        default=executor_module.DECIDE_BATCH,
        help="placements decided per transaction (1: one each, with a timeline rebuild per withdrawal, as "
        "before batching)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    executor_module.DECIDE_BATCH = args.batch
    with tempfile.TemporaryDirectory(prefix="reelcart-settings-decide-") as scratch:
        report = run(args, Path(scratch))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    wrong = [
        round_
        for round_ in report["rounds"]
        if round_["job"]["state"] != "done" or not round_["preview_agrees"]
    ]
    if wrong:
        raise SystemExit(f"{len(wrong)} round(s) failed or disagreed with the preview: {wrong[0]}")


if __name__ == "__main__":
    main()
