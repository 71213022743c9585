"""What a brand's settings changes and new products do to its tagged episodes, end to end through the API.

A brand tags its episodes, then changes its linking settings (`PATCH /v1/brands/me`), each change
followed by the link job it queues. With `--leave-out`, the catalog is imported without some SKUs (their
shots show a product the brand did not sell yet: an approval there sells the wrong product) and
`--add-back` then adds each of them as a brand does (`POST /v1/products`, then its packshot uploaded),
each followed by its job. After every step: the shots approved, right and wrong, the approvals the
linker withdrew or moved, and whether the linker's approvals are exactly those of the start
(`same_as_start`): a change and its reverse must land where they began (a product added back is
expected to change them).

A settings change decides the stored links again without linking them (`redecided`); `--check-relink`
then links every placement the linker decided again from its crops under the brand's thresholds and
counts the ones whose status, product, level or reason differ from what is stored (`relink_disagrees`,
0 when deciding again is exact), timing it (`relink_s`: what linking them all again costs, as a settings
job did before it decided stored links again).

Everything runs in a throw-away database and media folder with the real tag and link job executors.

    .venv/bin/python scripts/settings_relink.py --catalog var/eval/episodes/CATALOG-OWN-PRINT.csv \\
        --episode var/eval/episodes/episode-0.mp4 var/eval/episodes/truth-0.json \\
        --episode var/eval/episodes/episode-1.mp4 var/eval/episodes/truth-1.json \\
        [--change '{"auto_approve_threshold": 0.9}' ...] [--leave-out GS-31,GS-33 --add-back] \\
        [--check-relink] --out var/eval/settings-relink.json

Without `--change`: the auto-approve level 0.8 → 0.9 → 0.8, then the own-print level 0.5 → 0.8 → 0.5;
with `--add-back` and no `--change`, no settings change, only the products added.
"""

from __future__ import annotations

import argparse
import csv
import json
import mimetypes
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

from api.linking.service import decided_by_linker, outcome, read_stored_crops
from api.review.models import Placement, PlacementStatus
from tagger.episode_eval import read_truth
from tagger.linking.own_print import parse_own_print

DEFAULT_CHANGES: tuple[dict[str, Any], ...] = (
    {"auto_approve_threshold": 0.9},
    {"auto_approve_threshold": 0.8},
    {"own_print_auto_approve": 0.8},
    {"own_print_auto_approve": 0.5},
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--catalog", type=Path, required=True, help="a catalog CSV (the import format)")
    parser.add_argument(
        "--episode", nargs=2, type=Path, action="append", required=True, metavar=("VIDEO", "TRUTH")
    )
    parser.add_argument(
        "--change",
        type=json.loads,
        action="append",
        default=[],
        help="a PATCH /v1/brands/me body, as JSON (repeat; applied in order)",
    )
    parser.add_argument("--leave-out", default="", help="SKUs to import the catalog without, comma-separated")
    parser.add_argument(
        "--add-back", action="store_true", help="after the changes, add each left-out SKU through the API"
    )
    parser.add_argument(
        "--check-relink",
        action="store_true",
        help="after each step, link the linker's placements again from their crops and count disagreements",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    left_out = frozenset(sku.strip() for sku in args.leave_out.split(",") if sku.strip())
    if args.add_back and not left_out:
        parser.error("--add-back needs --leave-out")
    changes = args.change or ([] if args.add_back else list(DEFAULT_CHANGES))
    with tempfile.TemporaryDirectory(prefix="reelcart-settings-relink-") as scratch:
        report = run(
            args.catalog, args.episode, changes, left_out, args.add_back, Path(scratch), args.check_relink
        )
    for step in report["steps"]:
        print(json.dumps({key: value for key, value in step.items() if key != "episodes"}))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def run(
    catalog: Path,
    labelled: Sequence[Sequence[Path]],
    changes: Sequence[dict[str, Any]],
    left_out: frozenset[str],
    add_back: bool,
    scratch: Path,
    check_relink: bool = False,
) -> dict[str, Any]:
    world = open_world(catalog, [Path(video) for video, _ in labelled], left_out, scratch, name="Settings")
    started = time.perf_counter()
    episodes = [tagged(world, Path(video), read_truth(Path(truth))) for video, truth in labelled]
    tag_s = time.perf_counter() - started
    # Scored as the catalog was imported: a left-out SKU's shots count as products the brand does not sell
    # until it is added back; from then on they are product shots like any other.
    start = _linker_approvals(world)
    steps = [_step("tagged", None, world, episodes, left_out, start)]
    with api_client(world) as client:
        for change in changes:
            answer = client.patch("/v1/brands/me", json=change, headers=world.headers)
            answer.raise_for_status()
            job = followed_job(client, world, answer)
            steps.append(_step(json.dumps(change), job, world, episodes, left_out, start))
            if check_relink:
                started_check = time.perf_counter()
                steps[-1]["relink_disagrees"] = _relink_disagrees(world)
                # What the step's job would have cost linking every placement again (the old settings job)
                steps[-1]["relink_s"] = round(time.perf_counter() - started_check, 1)
        if add_back:
            rows = {row["sku"]: row for row in csv.DictReader(catalog.open(encoding="utf-8"))}
            for sku in sorted(left_out):
                job = _add_product(client, world, rows[sku], catalog.parent)
                steps.append(_step(f"added {sku}", job, world, episodes, left_out - {sku}, start))
                left_out -= {sku}
    refuse_failed_link_jobs(world)
    world.engine.dispose()
    return {"catalog": catalog.name, "seconds": {"tag": round(tag_s, 1)}, "steps": steps}


def _step(
    name: str,
    job: dict[str, Any] | None,
    world: World,
    episodes: Sequence[Labelled],
    left_out: frozenset[str],
    start: frozenset[Any],
) -> dict[str, Any]:
    scores = [counts(score(world, episode, left_out)) for episode in episodes]
    step: dict[str, Any] = {"step": name}
    if job is not None:
        step["job"] = {
            key: job.get(key)
            for key in (
                "state",
                "decide_only",
                "redecided",
                "placements_relinked",
                "auto_approved",
                "withdrawn",
                "moved",
            )
        } | {f"{phase}_s": round(job["seconds"].get(phase, 0.0), 2) for phase in ("index", "link")}
    step["approved_shots"] = sum(entry["approved_shots"] for entry in scores)
    step["approved_right"] = sum(entry["approved_right"] for entry in scores)
    step["approved_wrong"] = sum(entry["approved_wrong"] for entry in scores)
    step["left_out_approved"] = sum(entry["left_out_approved"] for entry in scores)
    step["same_as_start"] = _linker_approvals(world) == start
    step["episodes"] = scores
    print(f"{name}: {step['approved_shots']} shots approved, {step['approved_wrong']} wrong", flush=True)
    return step


def _relink_disagrees(world: World) -> int:
    """How many placements the linker decided would be decided otherwise by linking their crops again
    under the brand's thresholds now (status, product, level or reason)."""
    brand = world.linking.brand_linker(world.brand_id)
    if brand is None:
        raise SystemExit("the catalog has no image to link against")
    with Session(world.engine) as session:
        placements = session.exec(
            select(Placement).where(col(Placement.brand_id) == world.brand_id, decided_by_linker())
        ).all()
    disagree = 0
    for placement in placements:
        fresh = outcome(
            brand.linker.link_track(read_stored_crops(placement.thumbnail_path), brand.thresholds), brand
        )
        stored = (
            placement.status,
            placement.chosen_product_id,
            placement.link_approval_level,
            placement.link_evidence,
        )
        if (fresh.status, fresh.chosen_product_id, fresh.approval_level, fresh.evidence) != stored:
            disagree += 1
            print(f"  {placement.id}: stored {stored}, linked again {fresh}", flush=True)
    return disagree


def _linker_approvals(world: World) -> frozenset[Any]:
    """(placement, product) of every approval the linker made."""
    with Session(world.engine) as session:
        rows = session.exec(
            select(Placement.id, Placement.chosen_product_id).where(
                col(Placement.brand_id) == world.brand_id,
                col(Placement.status) == PlacementStatus.APPROVED,
                col(Placement.approved_by_linker),
            )
        ).all()
    return frozenset(rows)


def _add_product(client: TestClient, world: World, row: dict[str, str], base: Path) -> dict[str, Any] | None:
    """A catalog row added as a brand adds a product: the product with its variant and marks, then its
    packshot uploaded (its first usable image queues the re-link). The upload's job, run to its end.
    One row per SKU, as the benchmark catalogs have (not a product of several variant rows)."""
    if not row.get("image"):
        raise SystemExit(f"{row['sku']} has no image in the catalog: nothing to upload")
    body = {
        "title": row["title"],
        "vendor": row.get("vendor", ""),
        "description": row.get("description", ""),
        "own_print": [list(box) for box in parse_own_print(row.get("own_print", ""))],
        "variants": [{"sku": row["sku"], "price": row["price"], "currency": row["currency"]}],
    }
    created = client.post("/v1/products", json=body, headers=world.headers)
    created.raise_for_status()
    image = Path(row["image"]) if Path(row["image"]).is_absolute() else base / row["image"]
    with image.open("rb") as packshot:
        uploaded = client.post(
            f"/v1/products/{created.json()['id']}/images",
            files={"file": (image.name, packshot, mimetypes.guess_type(image.name)[0] or "image/jpeg")},
            headers=world.headers,
        )
    uploaded.raise_for_status()
    return followed_job(client, world, uploaded)


if __name__ == "__main__":
    main()
