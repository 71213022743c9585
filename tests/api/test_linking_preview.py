"""`POST /v1/brands/me/linking-preview`: what a change of the linking settings would do, read from the
stored links, with nothing changed; and what the change then does agrees with it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.app import create_app
from api.catalog.models import ProductImage
from api.jobs.queue import InlineJobQueue, JobKind
from api.linking.executor import LinkJobExecutor
from api.linking.models import LinkJob
from api.linking.service import index_folder
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from tagger.linking.decision import DecisionInputs
from tests.api.factories import make_episode, make_placement, make_product
from tests.api.fake_linking import MATCHED, FakeSource, FixedLinker
from tests.utils.api import BrandAccount

CURRENT = "index-v7"  # the index the fake source serves, saved as the brand's current one


def _crop(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.png"
    cv2.imwrite(str(path), np.full((60, 40, 3), 120, np.uint8))
    return str(path)


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
                ProductImage(product_id=item.id, brand_id=brand.brand.id, path=_crop(tmp_path / "shots"))
            )
        session.commit()
    episode = make_episode(engine, brand.brand.id, settings)
    folder = index_folder(settings, brand.brand.id)
    folder.mkdir(parents=True)
    (folder / "CURRENT").write_text(CURRENT, encoding="utf-8")

    def linked(start_ms: int, confidence: float | None, **extra: Any) -> Placement:
        kept = (
            {} if confidence is None else {"link_inputs": DecisionInputs(confidence, True, MATCHED).stored()}
        )
        return make_placement(
            engine,
            episode,
            start_ms=start_ms,
            end_ms=start_ms + 3000,
            link_confidence=confidence,
            candidates=[product, other],
            thumbnail_path=_crop(tmp_path / "crops"),
            **(kept | {"index_version": CURRENT} | extra),
        )

    # Given a link held at 0.72, the linker's approval at 0.85, a link held at 0.72 where a person
    # picked another product, one linked before the inputs were kept, one against an older index, one
    # held where a person picked the linker's top product, and the linker's approval of a product whose
    # image the index no longer holds
    held = linked(1000, 0.72)
    approved = linked(
        5000, 0.85, status=PlacementStatus.APPROVED, chosen_product_id=product.id, approved_by_linker=True
    )
    linked(9000, 0.72, chosen_product_id=other.id)
    linked(13000, None)
    linked(17000, 0.72, index_version="index-v6")
    same_pick = linked(21000, 0.72, chosen_product_id=product.id)
    bare, _ = make_product(engine, brand.brand.id, "Pressed Plum", sku="PL-1")
    make_placement(
        engine,
        episode,
        start_ms=25000,
        end_ms=28000,
        link_confidence=0.85,
        candidates=[bare],
        status=PlacementStatus.APPROVED,
        chosen_product_id=bare.id,
        approved_by_linker=True,
        index_version=CURRENT,
        link_inputs=DecisionInputs(0.85, True, MATCHED).stored(),
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
        # approvals kept, the pick of another product left for review, and two the job links again
        assert lower.status_code == 200, lower.text
        preview = lower.json()
        assert (preview["auto_approve_threshold"], preview["link_floor"], preview["placements"]) == (
            0.7,
            0.3,
            7,
        )
        assert (preview["would_approve"], preview["would_withdraw"]) == (2, 0)
        assert (preview["stay_approved"], preview["stay_for_review"]) == (2, 1)
        assert (preview["not_previewed"], preview["other_index"]) == (1, 1)
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

        # When the brand makes the change, its job approves what the preview listed (and the two links it
        # could not preview, which linking again approves)
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
