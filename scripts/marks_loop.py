"""A brand's own-print loop, end to end through the API, measured on labelled episodes.

What a brand does after its first episodes are tagged: it reviews them (approves the placements
the linker got right), opens the marks editor of each marked product, sees which of its approved
placements miss the marks (`POST /v1/products/{id}/own-print/check`), asks for boxes learnt from them
(`…/own-print/suggest`) and saves them (`PATCH /v1/products/{id}`), which re-links the placements
the linker decided that the marks decide (a product-scoped link job: awaiting review, or approved by
the linker, which it may withdraw). The question is what the brand's
other episodes, tagged with the old marks and not yet reviewed, show afterwards: how many shots got an
approved hotspot, and whether any sells the wrong product.

Everything runs in a throw-away database and media folder, with the real tag and link job executors
(as `reelcart eval episode` does); the API is called over HTTP through FastAPI's test client.

    .venv/bin/python scripts/marks_loop.py --catalog var/eval/episodes/CATALOG-OWN-PRINT.csv \\
        --learn var/eval/episodes/episode-0.mp4 var/eval/episodes/truth-0.json \\
        --episode var/eval/episodes/episode-1.mp4 var/eval/episodes/truth-1.json \\
        --episode var/eval/episodes/episode-2.mp4 var/eval/episodes/truth-2.json \\
        [--leave-out GS-29,GS-31] --out var/eval/marks-loop.json

`--learn` may be given several times: every episode it names is reviewed before the marks are asked for.
`--leave-out` imports the catalog without those SKUs: their shots then show a product the brand does not
sell, and an approval there is a hotspot selling the wrong product.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from episode_world import (
    Labelled,
    World,
    api_client,
    counts,
    followed_job,
    open_world,
    refuse_failed_link_jobs,
    score,
    tagged,
)
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.catalog.models import Product
from api.cli.evaluate_episode import sku_by_product
from api.review.models import Placement, PlacementStatus
from api.review.service import stored_candidates
from tagger.episode_eval import read_truth, shot_index


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument(
        "--learn",
        nargs=2,
        type=Path,
        action="append",
        required=True,
        metavar=("VIDEO", "TRUTH"),
        help="an episode the brand reviews before it asks for marks (repeat for several)",
    )
    parser.add_argument(
        "--episode", nargs=2, type=Path, action="append", default=[], metavar=("VIDEO", "TRUTH")
    )
    parser.add_argument("--leave-out", default="", help="SKUs to import the catalog without, comma-separated")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    left_out = frozenset(sku.strip() for sku in args.leave_out.split(",") if sku.strip())
    with tempfile.TemporaryDirectory(prefix="reelcart-marks-loop-") as scratch:
        report = run(args.catalog, args.learn, args.episode, left_out, Path(scratch))
    print(json.dumps(report["summary"], indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def run(
    catalog: Path,
    learn: Sequence[Sequence[Path]],
    others: Sequence[Sequence[Path]],
    left_out: frozenset[str],
    scratch: Path,
) -> dict[str, Any]:
    videos = [Path(video) for video, _ in [*learn, *others]]
    world = open_world(catalog, videos, left_out, scratch, name="Marks loop")

    started = time.perf_counter()
    episodes = [tagged(world, Path(video), read_truth(Path(truth))) for video, truth in [*learn, *others]]
    tag_s = time.perf_counter() - started
    before = [score(world, episode, left_out) for episode in episodes]

    started = time.perf_counter()
    with api_client(world) as client:
        reviewed = sum(_review(client, world, episode) for episode in episodes[: len(learn)])
        products = _marks_loop(client, world)
    loop_s = time.perf_counter() - started
    after = [score(world, episode, left_out) for episode in episodes]
    unreviewed = len(learn)
    held = [_held(world, episode) for episode in episodes[unreviewed:]]
    world.engine.dispose()

    rows = [
        {
            "episode": episode.video.name,
            "role": "learnt from" if number < unreviewed else "not reviewed",
            "before": counts(old),
            "after": counts(new),
        }
        for number, (episode, old, new) in enumerate(zip(episodes, before, after, strict=True))
    ]
    return {
        "catalog": catalog.name,
        "left_out": sorted(left_out),
        "reviewed_in_learnt_episodes": reviewed,
        "products": products,
        "episodes": rows,
        "held_right_links": [entry for entries in held for entry in entries],
        "seconds": {"tag": round(tag_s, 1), "review_and_marks": round(loop_s, 1)},
        "summary": {
            "marks_saved": sum(1 for product in products if product["saved"]),
            "unreviewed_product_shots": sum(one.product_shots for one in after[unreviewed:]),
            "unreviewed_shots_approved_before": sum(one.auto_approved_shots for one in before[unreviewed:]),
            "unreviewed_shots_approved_after": sum(one.auto_approved_shots for one in after[unreviewed:]),
            "wrong_approved_after": sum(one.auto_approved_wrong for one in after),
            "left_out_shots_approved_after": sum(one.left_out_auto_approved for one in after),
        },
    }


def _right_and_waiting(world: World, episode: Labelled) -> list[tuple[Placement, str]]:
    """The placements of an episode still awaiting review whose top candidate is the product their shot
    shows, with that SKU."""
    with Session(world.engine, expire_on_commit=False) as session:
        sku_of = sku_by_product(session, world.brand_id)
        waiting = session.exec(
            select(Placement).where(
                Placement.episode_id == episode.episode_id, Placement.status == PlacementStatus.PROPOSED
            )
        ).all()
    right = []
    for row in waiting:
        shot = shot_index(row.start_ms, row.end_ms, episode.truth)
        candidates = stored_candidates(row)
        sku = episode.truth[shot].sku if shot is not None else None
        if sku is not None and candidates and sku_of.get(str(candidates[0].product_id)) == sku:
            right.append((row, sku))
    return right


def _held(world: World, episode: Labelled) -> list[dict[str, Any]]:
    """The placements of an unreviewed episode linked right at top-1 and still awaiting review, with the
    linker's reason: what the marks (or the confidence) still hold back."""
    return [
        {
            "episode": episode.video.name,
            "start_ms": row.start_ms,
            "sku": sku,
            "confidence": row.link_confidence,
            "needed": row.link_approval_level,
            "evidence": row.link_evidence,
        }
        for row, sku in _right_and_waiting(world, episode)
    ]


def _review(client: TestClient, world: World, episode: Labelled) -> int:
    """Approve, through the API, each placement of a learnt episode the linker named right at top-1 (what
    a reviewer confirms); returns how many it approved."""
    chosen = [
        (row.id, row.version, stored_candidates(row)[0].product_id)
        for row, _sku in _right_and_waiting(world, episode)
    ]
    for placement_id, version, product_id in chosen:
        answer = client.post(
            f"/v1/placements/{placement_id}/approve",
            json={"product_id": str(product_id)},
            headers={**world.headers, "If-Match": f'"{version}"'},
        )
        answer.raise_for_status()
    return len(chosen)


def _marks_loop(client: TestClient, world: World) -> list[dict[str, Any]]:
    """For each marked product: the check; where its approved footage misses the marks, the suggestion;
    where there are boxes, the save (which re-links through the product-scoped link job)."""
    headers = world.headers
    with Session(world.engine) as session:
        sku_of = sku_by_product(session, world.brand_id)
        marked = [
            product.id
            for product in session.exec(
                select(Product).where(Product.brand_id == world.brand_id).order_by(col(Product.created_at))
            ).all()
            if product.own_print
        ]
    done = []
    for product_id in marked:
        sku = sku_of.get(str(product_id), "?")
        check = client.post(f"/v1/products/{product_id}/own-print/check", json={}, headers=headers)
        check.raise_for_status()
        missing = [entry for entry in check.json()["own_footage"] if entry["misses_marks"]]
        entry: dict[str, Any] = {
            "sku": sku,
            "own_footage": len(check.json()["own_footage"]),
            "missing": len(missing),
        }
        entry.update(saved=False, boxes=[], relinked=0, approved=0)
        if missing:
            suggestion = client.post(f"/v1/products/{product_id}/own-print/suggest", json={}, headers=headers)
            suggestion.raise_for_status()
            body = suggestion.json()
            entry.update(boxes=body["boxes"], own_inside=body["own_inside"], reason=body.get("reason", ""))
            if body["boxes"]:
                current = client.get(f"/v1/products/{product_id}", headers=headers)
                saved = client.patch(
                    f"/v1/products/{product_id}",
                    json={"own_print": body["boxes"]},
                    headers={**headers, "If-Match": current.headers["ETag"]},
                )
                saved.raise_for_status()
                entry["saved"] = True
                job = followed_job(client, world, saved)
                if job is not None:
                    entry.update(
                        job_state=job["state"],
                        relinked=job["placements_relinked"],
                        approved=job["auto_approved"],
                        withdrawn=job["withdrawn"],
                        moved=job["moved"],
                    )
        done.append(entry)
        print(f"{sku}: {json.dumps({k: v for k, v in entry.items() if k != 'sku'})}", flush=True)
    refuse_failed_link_jobs(world)
    return done


if __name__ == "__main__":
    main()
