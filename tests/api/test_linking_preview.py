"""`POST /v1/brands/me/linking-preview`: what a change of the linking settings would do, read from the
stored links, with nothing changed; and what the change then does agrees with it."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.app import create_app
from api.catalog.models import ProductImage
from api.episodes.models import Episode
from api.jobs.queue import InlineJobQueue, JobKind
from api.linking.executor import LinkJobExecutor
from api.linking.models import LinkJob
from api.linking.service import index_folder
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline
from tagger.linking.decision import DecisionInputs
from tests.api.concurrency import skip_unless_postgres
from tests.api.factories import make_episode, make_product
from tests.api.fake_linking import (
    FAKE_INDEX,
    MATCHED,
    FakeSource,
    FixedLinker,
    crop_file,
    decide_only_job,
    linked_placement,
)
from tests.utils.api import BrandAccount


def _versions(engine: Engine, brand: BrandAccount) -> dict[uuid.UUID, int]:
    with Session(engine) as session:
        rows = session.exec(select(Placement).where(Placement.brand_id == brand.brand.id)).all()
        return {row.id: row.version for row in rows}


def test_a_preview_says_what_a_settings_change_would_approve_and_withdraw_and_changes_nothing(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    other, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    with Session(engine) as session:
        for item in (product, other):
            session.add(
                ProductImage(product_id=item.id, brand_id=brand.brand.id, path=crop_file(tmp_path / "shots"))
            )
        session.commit()
    episode = make_episode(engine, brand.brand.id, settings)
    folder = index_folder(settings, brand.brand.id)
    folder.mkdir(parents=True)
    (folder / "CURRENT").write_text(FAKE_INDEX, encoding="utf-8")

    def linked(start_ms: int, confidence: float | None, **extra: Any) -> Placement:
        return linked_placement(
            engine, episode, [product, other], tmp_path / "crops", start_ms, confidence, **extra
        )

    # Given a link held at 0.72, the linker's approval at 0.85, a link held at 0.72 where a person
    # picked another product, one linked before the inputs were kept, one scored by a fusion model the
    # linker no longer has, one against an older index, one held where a person picked the linker's top
    # product, and the linker's approval of a product whose image the index no longer holds
    held = linked(1000, 0.72)
    approved = linked(
        5000, 0.85, status=PlacementStatus.APPROVED, chosen_product_id=product.id, approved_by_linker=True
    )
    linked(9000, 0.72, chosen_product_id=other.id)
    linked(13000, None)
    linked(15000, 0.72, link_inputs=DecisionInputs(0.72, True, MATCHED, scorer="fusion-before").stored())
    linked(17000, 0.72, index_version="index-v6")
    same_pick = linked(21000, 0.72, chosen_product_id=product.id)
    bare, _ = make_product(engine, brand.brand.id, "Pressed Plum", sku="PL-1")
    linked_placement(
        engine,
        episode,
        [bare],
        tmp_path / "crops",
        25000,
        0.85,
        status=PlacementStatus.APPROVED,
        chosen_product_id=bare.id,
        approved_by_linker=True,
    )
    before = _versions(engine, brand)
    queue = InlineJobQueue()
    linker = FixedLinker(str(product.id), 0.75, keeps_inputs=True)
    queue.bind({JobKind.LINK: LinkJobExecutor(engine, settings, FakeSource(linker, engine=engine))})
    with TestClient(create_app(settings, engine=engine, job_queue=queue)) as client:
        # When the brand asks what a level of 0.7 would do
        lower = client.post(
            "/v1/brands/me/linking-preview", json={"auto_approve_threshold": 0.7}, headers=brand.headers
        )
        # Then it hears: two approvals (the held link, and the pick of the linker's top product), two
        # approvals kept, the pick of another product left for review, and three the job links again
        assert lower.status_code == 200, lower.text
        preview = lower.json()
        assert (preview["auto_approve_threshold"], preview["link_floor"], preview["placements"]) == (
            0.7,
            0.3,
            8,
        )
        assert (preview["would_approve"], preview["would_withdraw"]) == (2, 0)
        assert (preview["stay_approved"], preview["stay_for_review"]) == (2, 1)
        assert (preview["not_previewed"], preview["other_index"]) == (2, 1)
        assert preview["would_approve_ids"] == [str(held.id), str(same_pick.id)]
        assert (preview["catalog_pending"], preview["queues_job"]) == (False, True)
        # And a level of 0.9 would withdraw the linker's approval (not the one of a product it cannot see)
        higher = client.post(
            "/v1/brands/me/linking-preview", json={"auto_approve_threshold": 0.9}, headers=brand.headers
        ).json()
        assert (higher["would_approve"], higher["would_withdraw"], higher["would_withdraw_ids"]) == (
            0,
            1,
            [str(approved.id)],
        )
        # And the own-print level or the print evidence rule, changed alone, changes nothing here
        for body in ({"own_print_auto_approve": 0.3}, {"require_print_evidence": False}):
            alone = client.post("/v1/brands/me/linking-preview", json=body, headers=brand.headers).json()
            assert (alone["would_approve"], alone["would_withdraw"], alone["queues_job"]) == (0, 0, True)
        # And nothing changed: no placement, no setting, no job
        assert _versions(engine, brand) == before
        assert client.get("/v1/brands/me", headers=brand.headers).json()["auto_approve_threshold"] == 0.8
        assert client.get("/v1/link-jobs", headers=brand.headers).json()["total"] == 0

        # When the brand makes the change, its job approves what the preview listed (and the three links
        # it could not preview, which linking again approves)
        changed = client.patch("/v1/brands/me", json={"auto_approve_threshold": 0.7}, headers=brand.headers)
        assert changed.status_code == 200, changed.text
        for placement_id in preview["would_approve_ids"]:
            status = client.get(f"/v1/placements/{placement_id}", headers=brand.headers).json()["status"]
            assert status == "approved"
        monitor = changed.headers["Link"]
        job = client.get(monitor[1 : monitor.index(">")], headers=brand.headers).json()
        counted = preview["would_approve"] + preview["not_previewed"] + preview["other_index"]
        assert job["auto_approved"] == counted
        # And with the catalog's index possibly out of date (a link job waiting for a worker), it says so
        with Session(engine) as session:
            session.add(LinkJob(brand_id=brand.brand.id, linker_decided_only=True))
            session.commit()
        pending = client.post(
            "/v1/brands/me/linking-preview", json={"auto_approve_threshold": 0.9}, headers=brand.headers
        ).json()
        assert pending["catalog_pending"] is True


def test_a_preview_refuses_what_an_update_refuses(client: TestClient, brand: BrandAccount) -> None:
    url = "/v1/brands/me/linking-preview"
    for body, field in (
        ({"link_floor": 0.9}, "link_floor"),  # over the threshold (0.8)
        ({"auto_approve_threshold": None}, "auto_approve_threshold"),
        ({"auto_approve_threshold": "0.7"}, "auto_approve_threshold"),
        ({"auto_approve_threshold": 1.5}, "auto_approve_threshold"),
        ({"require_print_evidence": 1}, "require_print_evidence"),
        ({"require_print_evidence": "true"}, "require_print_evidence"),
        ({"default_checkout_provider": "stripe"}, "default_checkout_provider"),  # not a linking setting
    ):
        answer = client.post(url, json=body, headers=brand.headers)
        assert answer.status_code == 422, (body, answer.text)
        assert field in answer.text
    assert (
        client.post(
            url, content=b"{", headers={**brand.headers, "content-type": "application/json"}
        ).status_code
        == 422
    )
    assert client.post(url, json={}, headers={"Authorization": "Bearer rc_not-a-key"}).status_code == 401
    # An empty body previews the settings as they are: nothing would change
    same = client.post(url, json={}, headers=brand.headers).json()
    assert (same["would_approve"], same["would_withdraw"], same["placements"]) == (0, 0, 0)
    assert same["queues_job"] is False


def test_removing_an_image_or_a_product_nothing_names_refreshes_the_index_and_the_preview_says_so(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    # Given a catalog of three products with a packshot each, indexed, and a link naming only the first
    named, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    unnamed, _ = make_product(engine, brand.brand.id, "Pressed Pear", sku="PP-1")
    spare, _ = make_product(engine, brand.brand.id, "Pressed Plum", sku="PL-1")
    with Session(engine) as session:
        images = [
            ProductImage(product_id=item.id, brand_id=brand.brand.id, path=crop_file(tmp_path / "shots"))
            for item in (named, unnamed, spare)
        ]
        session.add_all(images)
        session.commit()
        image_ids = [image.id for image in images]
    linked_placement(engine, make_episode(engine, brand.brand.id, settings), [named], tmp_path, 1000, 0.72)
    folder = index_folder(settings, brand.brand.id)
    folder.mkdir(parents=True)
    (folder / "CURRENT").write_text(FAKE_INDEX, encoding="utf-8")
    preview = "/v1/brands/me/linking-preview"
    assert client.post(preview, json={}, headers=brand.headers).json()["catalog_pending"] is False

    # When the pear's packshot is removed, then the plum itself (no link names either)
    for removal in (f"/v1/images/{image_ids[1]}", f"/v1/products/{spare.id}"):
        removed = client.delete(removal, headers=brand.headers)
        assert removed.status_code == 204, removed.text
        # Then the index is refreshed without it by an index-only job the answer names (the index the
        # settings job builds next lacks it, so its placements will be linked again, not decided)
        monitor = removed.headers["Link"]
        job = client.get(monitor[1 : monitor.index(">")], headers=brand.headers).json()
        assert (job["index_only"], job["product_id"], job["state"]) == (True, None, "queued")
        # And until that job has run, the preview says a catalog change is waiting
        assert client.post(preview, json={}, headers=brand.headers).json()["catalog_pending"] is True
    # And both removals share the one job still queued
    assert client.get("/v1/link-jobs", headers=brand.headers).json()["total"] == 1


def _approvals_at_085(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path, count: int
) -> tuple[Episode, list[Placement]]:
    product, _ = make_product(engine, brand.brand.id, "Pressed Apple", sku="PA-1")
    with Session(engine) as session:
        session.add(ProductImage(product_id=product.id, brand_id=brand.brand.id, path=crop_file(tmp_path)))
        session.commit()
    episode = make_episode(engine, brand.brand.id, settings)
    placements = [
        linked_placement(
            engine,
            episode,
            [product],
            tmp_path / "crops",
            1000 + 4000 * n,
            0.85,
            status=PlacementStatus.APPROVED,
            chosen_product_id=product.id,
            approved_by_linker=True,
        )
        for n in range(count)
    ]
    with Session(engine) as session:
        rebuild_timeline(session, session.get_one(Episode, episode.id), settings)
        session.commit()
    return episode, placements


def _held_for(engine: Engine, model: type[Any], row_id: uuid.UUID, seconds: float) -> threading.Thread:
    """Another transaction that locks one row for a while (a reviewer's write, a bulk approval)."""
    locked = threading.Event()

    def hold() -> None:
        with Session(engine) as session:
            session.exec(select(model).where(model.id == row_id).with_for_update()).one()
            locked.set()
            time.sleep(seconds)
            session.commit()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    return holder


def test_a_decide_only_batch_waits_on_no_lock_and_decides_what_others_held_afterwards(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    skip_unless_postgres(engine)
    episode, placements = _approvals_at_085(engine, settings, brand, tmp_path, 5)
    job_id = decide_only_job(engine, brand.brand.id, 0.9)  # raised: every approval withdrawn
    linker = FixedLinker(str(uuid.uuid4()), 0.1)  # never asked: every link is decided from its inputs
    executor = LinkJobExecutor(engine, settings, FakeSource(linker, engine=engine))
    # Given another transaction holding one placement's row, then the episode's, for a moment each
    holders = [
        _held_for(engine, Placement, placements[2].id, 1.0),
        _held_for(engine, Episode, episode.id, 0.6),
    ]
    # When the job runs meanwhile
    executor(job_id)
    for holder in holders:
        holder.join(10)
    # Then it waited for neither while holding the others, and decided all five all the same
    with Session(engine) as session:
        job = session.get_one(LinkJob, job_id)
        assert (job.state, job.error, job.redecided, job.withdrawn) == ("done", None, 5, 5)
        rows = session.exec(select(Placement).where(Placement.episode_id == episode.id)).all()
        assert {row.status for row in rows} == {PlacementStatus.PROPOSED}
        timeline = session.get_one(Episode, episode.id).timeline_json
    assert all(str(placement.id) not in timeline for placement in placements)
    assert linker.crops_seen == []
