"""Episodes (upload and server path), tag jobs and the public timeline, through HTTP."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from api.app import create_app
from api.catalog.models import Product, Variant
from api.catalog.service import delete_product
from api.episodes.models import Episode, TagJob
from api.jobs.models import JobPhase, JobState
from api.jobs.progress import JobProgress
from api.jobs.queue import InlineJobQueue, JobKind, JobRef
from api.jobs.tagging import PlacementDraft, ProgressCallback, TagJobExecutor, TagOutcome, tag_summary
from api.review.models import Placement, PlacementStatus
from api.review.schemas import SkuCandidate
from api.settings import ApiSettings
from tagger.exceptions import VideoError
from tests.api.concurrency import skip_unless_postgres
from tests.api.factories import make_episode, make_product
from tests.utils.api import BrandAccount, RecordingQueue, make_video, upload_episode


def _upload(
    client: TestClient, account: BrandAccount, data: bytes, *, title: str = "Ep 1", name: str = "ep1.mp4"
) -> httpx.Response:
    return upload_episode(client, account, data, title=title, filename=name)


def _episode_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Episode)).one()


def test_upload_probes_the_video(
    client: TestClient, brand: BrandAccount, tmp_path: Path, settings: ApiSettings
) -> None:
    video = make_video(tmp_path / "clip.mp4", seconds=1.0, fps=10, size=(64, 48))
    response = _upload(client, brand, video.read_bytes())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        **body,
        "title": "Ep 1",
        "status": "registered",
        "source": "upload",
        "size_bytes": video.stat().st_size,
        "duration_ms": 1000,
        "fps": 10.0,
        "width": 64,
        "height": 48,
        "rotation": 0,
        "codec": "h264",
        "timeline_url": f"http://testserver/v1/episodes/{body['id']}/timeline",
    }
    stored = list((settings.media_dir / "episodes").iterdir())
    assert [path.suffix for path in stored] == [".mp4"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty"), (b"this is not a video at all" * 40, "not a readable media file")],
)
def test_bad_uploads_are_422_and_leave_nothing(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings, data: bytes, reason: str
) -> None:
    response = _upload(client, brand, data)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.json()["detail"]
    assert _episode_count(engine) == 0
    assert list((settings.media_dir / "episodes").glob("*")) == []


def test_truncated_video_is_refused(client: TestClient, brand: BrandAccount, tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", seconds=1.0)
    response = _upload(client, brand, video.read_bytes()[:300])
    assert response.status_code == 422


def test_oversized_upload_is_413_and_leaves_no_file(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 1 << 20})
    app = create_app(small, engine=engine, job_queue=RecordingQueue())
    with TestClient(app, raise_server_exceptions=False) as client:
        response = _upload(client, brand, b"\0" * ((1 << 20) + 10))
    assert response.status_code == 413
    assert list((settings.media_dir / "episodes").glob("*")) == []


def test_register_by_server_path_only_under_allowed_roots(
    client: TestClient, brand: BrandAccount, tmp_path: Path
) -> None:
    inside = make_video(tmp_path / "library" / "ep.mp4")
    outside = make_video(tmp_path / "elsewhere" / "ep.mp4")
    ok = client.post("/v1/episodes", json={"title": "Lib", "path": str(inside)}, headers=brand.headers)
    assert ok.status_code == 201, ok.text
    assert ok.json()["source"] == "path"
    refused = client.post("/v1/episodes", json={"title": "X", "path": str(outside)}, headers=brand.headers)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"field": "path", "message": "outside the allowed media roots"}]
    sneaky = client.post(
        "/v1/episodes",
        json={"title": "X", "path": str(tmp_path / "library" / ".." / "elsewhere" / "ep.mp4")},
        headers=brand.headers,
    )
    assert sneaky.status_code == 422


def test_episodes_are_brand_scoped(
    client: TestClient, brand: BrandAccount, other_brand: BrandAccount, tmp_path: Path
) -> None:
    episode = _upload(client, brand, make_video(tmp_path / "c.mp4").read_bytes()).json()
    assert client.get(f"/v1/episodes/{episode['id']}", headers=other_brand.headers).status_code == 404
    assert (
        client.post(f"/v1/episodes/{episode['id']}/tag-jobs", headers=other_brand.headers).status_code == 404
    )
    assert client.get("/v1/episodes", headers=other_brand.headers).json()["total"] == 0
    assert client.get("/v1/episodes", headers=brand.headers).json()["total"] == 1


def test_timeline_has_etag_and_revalidates_with_304(
    client: TestClient, brand: BrandAccount, tmp_path: Path
) -> None:
    episode = _upload(client, brand, make_video(tmp_path / "c.mp4").read_bytes()).json()
    first = client.get(f"/v1/episodes/{episode['id']}/timeline")
    assert first.status_code == 200
    assert first.json() == {
        "version": 1,
        "episode": {"id": episode["id"], "duration_ms": 1000, "width": 64, "height": 48},
        "placements": [],
    }
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = client.get(f"/v1/episodes/{episode['id']}/timeline", headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    weak = client.get(f"/v1/episodes/{episode['id']}/timeline", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    assert client.get(f"/v1/episodes/{uuid.uuid4()}/timeline").status_code == 404


def test_episodes_registered_at_the_same_moment_are_paged_each_once(
    client: TestClient, brand: BrandAccount, engine: Engine, settings: ApiSettings
) -> None:
    # Given five episodes stored with one creation time (a batch registered in one transaction)
    made = [make_episode(engine, brand.brand.id, settings) for _ in range(5)]
    with Session(engine) as session:
        for episode in made:
            stored = session.get(Episode, episode.id)
            assert stored is not None
            stored.created_at = made[0].created_at
            session.add(stored)
        session.commit()

    # When a client pages through them one at a time, then each comes exactly once
    pages = [
        client.get(f"/v1/episodes?limit=1&offset={offset}", headers=brand.headers).json()["items"]
        for offset in range(5)
    ]
    assert sorted(page[0]["id"] for page in pages) == sorted(str(e.id) for e in made)


def test_tag_job_is_queued_listed_and_not_duplicated(
    client: TestClient, brand: BrandAccount, tmp_path: Path, job_queue: RecordingQueue
) -> None:
    episode = _upload(client, brand, make_video(tmp_path / "c.mp4").read_bytes()).json()
    created = client.post(f"/v1/episodes/{episode['id']}/tag-jobs", headers=brand.headers)
    assert created.status_code == 202
    job = created.json()
    assert created.headers["location"] == f"/v1/tag-jobs/{job['id']}"
    assert (job["state"], job["phase"], job["progress"], job["attempts"]) == ("queued", "queued", 0.0, 0)
    assert job_queue.enqueued == [JobRef(JobKind.TAG, uuid.UUID(job["id"]))]
    assert client.post(f"/v1/episodes/{episode['id']}/tag-jobs", headers=brand.headers).status_code == 409
    assert client.get(f"/v1/tag-jobs/{job['id']}", headers=brand.headers).json() == job
    assert [
        j["id"] for j in client.get("/v1/tag-jobs?state=queued", headers=brand.headers).json()["items"]
    ] == [job["id"]]


class FakeTagger:
    """Stands in for the vision pipeline: returns fixed drafts or raises, and reports progress."""

    def __init__(
        self,
        drafts: Sequence[PlacementDraft] = (),
        error: Exception | None = None,
        empty_reason: str | None = None,
        seconds: dict[str, float] | None = None,
        shots: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        self.drafts = list(drafts)
        self.error = error
        self.empty_reason = empty_reason
        self.seconds = seconds or {}
        self.shots = None if shots is None else list(shots)

    def __call__(
        self, media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
    ) -> TagOutcome:
        assert media_path.is_file()
        progress(0.5, JobPhase.DETECT)
        if self.error is not None:
            raise self.error
        return TagOutcome(self.drafts, empty_reason=self.empty_reason, seconds=self.seconds, shots=self.shots)


def _draft(
    product_id: uuid.UUID | None,
    status: PlacementStatus,
    link_confidence: float | None = None,
    link_evidence: str | None = None,
    link_contradicted: bool = False,
    link_approval_level: float | None = None,
) -> PlacementDraft:
    return PlacementDraft(
        start_ms=100,
        end_ms=900,
        start_frame=1,
        end_frame=9,
        label="bottle",
        confidence=0.8,
        keyframes=[{"t_ms": 100, "box": [0.1, 0.2, 0.3, 0.4]}, {"t_ms": 900, "box": [0.2, 0.2, 0.3, 0.4]}],
        chosen_product_id=product_id,
        status=status,
        link_confidence=link_confidence,
        link_evidence=link_evidence,
        link_contradicted=link_contradicted,
        link_approval_level=link_approval_level,
    )


def _run_with(
    engine: Engine, settings: ApiSettings, tagger: FakeTagger, brand: BrandAccount, tmp_path: Path
) -> tuple[TestClient, dict[str, str]]:
    executor = TagJobExecutor(engine, settings, tagger)
    client = TestClient(
        create_app(settings, engine=engine, job_queue=InlineJobQueue({JobKind.TAG: executor}))
    )
    episode = _upload(client, brand, make_video(tmp_path / "c.mp4").read_bytes()).json()
    job = client.post(f"/v1/episodes/{episode['id']}/tag-jobs", headers=brand.headers).json()
    return client, {"episode": episode["id"], "job": job["id"]}


def test_finished_job_stores_placements_and_approved_ones_reach_the_timeline(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        product = Product(brand_id=brand.brand.id, title="Cola 330 ml")
        session.add(product)
        session.flush()
        # (a product the timeline shows has something to buy)
        session.add(
            Variant(
                product_id=product.id,
                brand_id=brand.brand.id,
                sku="COLA-330",
                price=Decimal("1.20"),
                currency="EUR",
            )
        )
        session.commit()
    tagger = FakeTagger(
        [_draft(product.id, PlacementStatus.APPROVED), _draft(None, PlacementStatus.PROPOSED)]
    )
    client, ids = _run_with(engine, settings, tagger, brand, tmp_path)
    job = client.get(f"/v1/tag-jobs/{ids['job']}", headers=brand.headers).json()
    assert (job["state"], job["progress"], job["placements_found"], job["error"]) == ("done", 1.0, 2, None)
    assert (job["phase"], job["summary"]) == (
        "finished",
        "2 placements: 1 approved automatically, 1 for review "
        "(1 with no link above the brand's floor of 0.30: unknown products)",
    )
    assert client.get(f"/v1/episodes/{ids['episode']}", headers=brand.headers).json()["status"] == "tagged"
    timeline = client.get(f"/v1/episodes/{ids['episode']}/timeline").json()
    assert [(p["label"], p["product"]["title"], p["start_ms"]) for p in timeline["placements"]] == [
        ("bottle", "Cola 330 ml", 100)
    ]


def test_a_linker_approval_of_a_product_with_nothing_to_buy_is_left_for_review(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    # Given a product the catalog lists without a variant, which the linker approves a placement as
    with Session(engine, expire_on_commit=False) as session:
        product = Product(brand_id=brand.brand.id, title="Gift box")
        session.add(product)
        session.commit()
    tagger = FakeTagger([_draft(product.id, PlacementStatus.APPROVED)])

    client, ids = _run_with(engine, settings, tagger, brand, tmp_path)

    # Then the placement waits for a person (the product left to their pick), and no hotspot sells nothing
    [placement] = client.get(f"/v1/review/queue?episode_id={ids['episode']}", headers=brand.headers).json()[
        "items"
    ]
    assert (placement["status"], placement["chosen_product_id"]) == ("proposed", None)
    assert client.get(f"/v1/episodes/{ids['episode']}/timeline").json()["placements"] == []


class TaggerDuringADeletion(FakeTagger):
    """Finds its drafts, then waits until `deletion_started` before the job stores them."""

    def __init__(self, drafts: Sequence[PlacementDraft]) -> None:
        super().__init__(drafts)
        self.tagged, self.deletion_started = threading.Event(), threading.Event()

    def __call__(
        self, media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
    ) -> TagOutcome:
        outcome = super().__call__(
            media_path, brand_id=brand_id, thumbnails_dir=thumbnails_dir, progress=progress
        )
        self.tagged.set()
        assert self.deletion_started.wait(10)
        return outcome


def test_a_tag_job_approving_a_product_being_deleted_waits_and_stores_the_placement_for_review(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    skip_unless_postgres(engine)
    cola, _ = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-1")
    tagger = TaggerDuringADeletion([_draft(cola.id, PlacementStatus.APPROVED, link_confidence=0.93)])
    answers: dict[str, tuple[TestClient, dict[str, str]]] = {}
    job = threading.Thread(
        target=lambda: answers.setdefault("job", _run_with(engine, settings, tagger, brand, tmp_path))
    )
    job.start()
    assert tagger.tagged.wait(30)
    # Given the cola's deletion under way (not committed) when the job stores its approval of the cola
    with Session(engine) as deletion:
        delete_product(deletion, deletion.get_one(Product, cola.id), "someone@brand.test")
        deletion.flush()
        tagger.deletion_started.set()
        # Then the job waits for the deletion's lock on the product
        job.join(1.5)
        assert job.is_alive()
        deletion.commit()
    job.join(30)
    client, ids = answers["job"]
    # And then stores the placement for review, without the product, instead of failing on it
    done = client.get(f"/v1/tag-jobs/{ids['job']}", headers=brand.headers).json()
    assert (done["state"], done["error"], done["placements_found"]) == ("done", None, 1)
    placements = client.get(f"/v1/episodes/{ids['episode']}/placements", headers=brand.headers).json()
    (placement,) = placements
    assert (placement["status"], placement["chosen_product_id"]) == ("proposed", None)
    assert client.get(f"/v1/episodes/{ids['episode']}/timeline").json()["placements"] == []


def test_a_placement_keeps_the_linkers_reason_and_the_review_api_serves_it(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    reason = "its print reads 'apple', which its catalog text lacks (another variant?)"
    tagger = FakeTagger(
        [
            _draft(
                None,
                PlacementStatus.PROPOSED,
                link_confidence=0.98,
                link_evidence=reason,
                link_contradicted=True,
                link_approval_level=0.5,
            )
        ]
    )
    client, ids = _run_with(engine, settings, tagger, brand, tmp_path)

    [served] = client.get(f"/v1/episodes/{ids['episode']}/placements", headers=brand.headers).json()

    assert (
        served["link_confidence"],
        served["link_evidence"],
        served["link_contradicted"],
        served["link_approval_level"],
    ) == (0.98, reason, True, 0.5)
    again = client.get(f"/v1/placements/{served['id']}", headers=brand.headers).json()
    assert again["link_evidence"] == reason


def test_failed_job_records_the_reason_and_stores_nothing(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    tagger = FakeTagger(
        [_draft(None, PlacementStatus.PROPOSED)], error=VideoError("ep.mp4: decoding failed at 2.1 s")
    )
    client, ids = _run_with(engine, settings, tagger, brand, tmp_path)
    job = client.get(f"/v1/tag-jobs/{ids['job']}", headers=brand.headers).json()
    assert (job["state"], job["error"], job["attempts"]) == ("failed", "ep.mp4: decoding failed at 2.1 s", 1)
    assert (job["phase"], job["summary"]) == (
        "finished",
        "failed while in phase detect: ep.mp4: decoding failed at 2.1 s",
    )
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Placement)).one() == 0
    # Never tagged, the episode is failed
    assert client.get(f"/v1/episodes/{ids['episode']}", headers=brand.headers).json()["status"] == "failed"
    # The worker keeps serving: a second job on the same episode runs.
    tagger.error = None
    retry = client.post(f"/v1/episodes/{ids['episode']}/tag-jobs", headers=brand.headers).json()
    assert client.get(f"/v1/tag-jobs/{retry['id']}", headers=brand.headers).json()["state"] == "done"


def test_unexpected_crash_fails_the_job_without_killing_the_worker(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    client, ids = _run_with(engine, settings, FakeTagger(error=RuntimeError("boom")), brand, tmp_path)
    job = client.get(f"/v1/tag-jobs/{ids['job']}", headers=brand.headers).json()
    assert (job["state"], job["error"]) == ("failed", "internal error: RuntimeError: boom")


def test_a_finished_job_shows_its_seconds_by_phase(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path, client: TestClient
) -> None:
    seconds = {"index": 1.5, "decode": 4.0, "detect": 2.25, "track": 0.5, "link": 6.0}
    queued = client.post(
        f"/v1/episodes/{_upload(client, brand, make_video(tmp_path / 'q.mp4').read_bytes()).json()['id']}"
        "/tag-jobs",
        headers=brand.headers,
    )
    assert queued.json()["seconds"] == {}  # nothing run yet
    client, ids = _run_with(engine, settings, FakeTagger(seconds=seconds), brand, tmp_path)
    job = client.get(f"/v1/tag-jobs/{ids['job']}", headers=brand.headers).json()
    assert (job["state"], job["seconds"]) == ("done", seconds)


def test_a_job_that_finds_nothing_says_why(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    reason = "the detector found nothing above its confidence threshold (0.3) in 38 sampled frames"
    client, ids = _run_with(engine, settings, FakeTagger(empty_reason=reason), brand, tmp_path)
    job = client.get(f"/v1/tag-jobs/{ids['job']}", headers=brand.headers).json()
    assert (job["state"], job["placements_found"], job["summary"]) == ("done", 0, f"no placements: {reason}")


def test_a_summary_counts_the_placements_no_catalog_product_explains() -> None:
    outcome = TagOutcome([_draft(None, PlacementStatus.PROPOSED, link_confidence=0.55)], unexplained=4)
    assert tag_summary(outcome, 0.3) == (
        "1 placement: 0 approved automatically, 1 for review; "
        "4 more dropped: no catalog product explains them"
    )


def test_a_job_whose_links_pass_the_floor_reports_no_unknown_products(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    tagger = FakeTagger([_draft(None, PlacementStatus.PROPOSED, link_confidence=0.55)])
    client, ids = _run_with(engine, settings, tagger, brand, tmp_path)
    job = client.get(f"/v1/tag-jobs/{ids['job']}", headers=brand.headers).json()
    assert job["summary"] == "1 placement: 0 approved automatically, 1 for review"


def test_progress_names_its_phase_at_once_and_never_goes_back(
    engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    with Session(engine, expire_on_commit=False) as session:
        job = TagJob(brand_id=brand.brand.id, episode_id=episode.id, state=JobState.RUNNING)
        session.add(job)
        session.commit()
    progress = JobProgress(engine, TagJob, job.id)

    def stored() -> tuple[str, float]:
        with Session(engine) as session:
            row = session.get(TagJob, job.id)
            assert row is not None
            return row.phase, row.progress

    progress.report(0.0, JobPhase.INDEX)
    assert stored() == ("index", 0.0)
    progress.report(0.05, JobPhase.DETECT)
    assert stored() == ("detect", 0.05)
    progress.report(0.051)  # under the 2 % step and within the second: not written
    assert stored() == ("detect", 0.05)
    progress.report(0.5, JobPhase.LINK)
    progress.report(0.3, JobPhase.STORE)  # a late report never moves the bar back
    assert stored() == ("store", 0.5)
    progress.report(1.0)
    assert stored() == ("store", 0.99)  # 1.0 is written only with the results


def _retag(client: TestClient, brand: BrandAccount, episode_id: str) -> dict[str, object]:
    queued = client.post(f"/v1/episodes/{episode_id}/tag-jobs", headers=brand.headers)
    assert queued.status_code == 202, queued.text
    job: dict[str, object] = client.get(f"/v1/tag-jobs/{queued.json()['id']}", headers=brand.headers).json()
    return job


def _review(client: TestClient, brand: BrandAccount, episode_id: str, action: str, **body: str) -> None:
    """A reviewer's `action` (approve, reject) on the episode's placement starting at `start_ms`."""
    start_ms = int(body.pop("start_ms"))
    placements = client.get(f"/v1/episodes/{episode_id}/placements", headers=brand.headers).json()
    (placement,) = [p for p in placements if p["start_ms"] == start_ms]
    etag = client.get(f"/v1/placements/{placement['id']}", headers=brand.headers).headers["etag"]
    answer = client.post(
        f"/v1/placements/{placement['id']}/{action}", json=body, headers={**brand.headers, "If-Match": etag}
    )
    assert answer.status_code == 200, answer.text


def test_a_re_tag_summarises_only_the_placements_it_stored(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-1")
    bottle = _draft(None, PlacementStatus.PROPOSED, link_confidence=0.5)
    cup = replace(bottle, start_ms=2000, end_ms=2800, start_frame=20, end_frame=28, label="cup")
    # Given a first tag whose two placements a reviewer then decided: the bottle approved, the cup rejected
    tagger = FakeTagger([bottle, cup])
    client, ids = _run_with(engine, settings, tagger, brand, tmp_path)
    _review(client, brand, ids["episode"], "approve", start_ms="100", product_id=str(cola.id))
    _review(client, brand, ids["episode"], "reject", start_ms="2000")

    # When a re-tag finds the same two objects again, which the linker now approves itself
    tagger.drafts = [
        replace(d, status=PlacementStatus.APPROVED, chosen_product_id=cola.id) for d in (bottle, cup)
    ]
    same = _retag(client, brand, ids["episode"])

    # Then it stored nothing and says so, rather than "2 placements: 2 approved automatically"
    assert (same["state"], same["placements_found"], same["summary"]) == (
        "done",
        0,
        "no new placements: 2 already reviewed or sold from, kept as they were",
    )
    placements = client.get(f"/v1/episodes/{ids['episode']}/placements", headers=brand.headers).json()
    assert sorted((p["start_ms"], p["status"]) for p in placements) == [(100, "approved"), (2000, "rejected")]

    # And a re-tag that also finds a new object counts only that one
    hat = replace(bottle, start_ms=5000, end_ms=5800, start_frame=50, end_frame=58, label="hat")
    tagger.drafts = [*tagger.drafts, hat]
    more = _retag(client, brand, ids["episode"])
    assert (more["state"], more["placements_found"], more["summary"]) == (
        "done",
        1,
        "1 placement: 0 approved automatically, 1 for review; "
        "2 already reviewed or sold from, kept as they were",
    )


def test_a_re_tag_keeps_a_drawn_placement_and_adds_no_second_one_for_its_product(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-1")
    tea, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    # Given a first tag that found nothing, and the cola a person then drew at 0-1 s
    tagger = FakeTagger([])
    client, ids = _run_with(engine, settings, tagger, brand, tmp_path)
    drawn = client.post(
        f"/v1/episodes/{ids['episode']}/placements",
        json={
            "product_id": str(cola.id),
            "start_ms": 0,
            "end_ms": 1000,
            "keyframes": [{"t_ms": 0, "box": [0.1, 0.1, 0.3, 0.3]}],
        },
        headers=brand.headers,
    )
    assert drawn.status_code == 201, drawn.text

    # When a re-tag (a better catalog since) finds the cola there, and the tea over the same span
    found_cola = replace(
        _draft(None, PlacementStatus.PROPOSED, link_confidence=0.6),
        sku_candidates=[SkuCandidate(product_id=cola.id, title="Cola 330 ml", confidence=0.6)],
    )
    found_tea = replace(
        found_cola, sku_candidates=[SkuCandidate(product_id=tea.id, title="Tea", confidence=0.6)]
    )
    tagger.drafts = [found_cola, found_tea]
    job = _retag(client, brand, ids["episode"])

    # Then the drawing stays as it was, and only the tea is new
    assert (job["state"], job["placements_found"]) == ("done", 1)
    placements = client.get(f"/v1/episodes/{ids['episode']}/placements", headers=brand.headers).json()
    assert sorted((p["drawn_by_hand"], p["status"], p["label"]) for p in placements) == [
        (False, "proposed", "bottle"),
        (True, "approved", "drawn by hand"),
    ]
    assert [p["sku_candidates"][0]["product_id"] for p in placements if not p["drawn_by_hand"]] == [
        str(tea.id)
    ]


def test_an_episodes_shots_say_where_no_hotspot_is_yet(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, other_brand: BrandAccount, tmp_path: Path
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-1")
    # Given a tag job that cut the episode in three shots, approved a bottle in the first and proposed a
    # cup that spans the first cut but is mostly in the second
    bottle = replace(_draft(cola.id, PlacementStatus.APPROVED, link_confidence=0.9), start_ms=0, end_ms=250)
    cup = replace(bottle, start_ms=250, end_ms=550, label="cup", status=PlacementStatus.PROPOSED)
    cup = replace(cup, chosen_product_id=None)
    tagger = FakeTagger([bottle, cup], shots=[(0, 299), (300, 599), (600, 900)])
    client, ids = _run_with(engine, settings, tagger, brand, tmp_path)
    url = f"/v1/episodes/{ids['episode']}/shots"

    # When the brand asks where its hotspots are
    shots = client.get(url, headers=brand.headers)

    # Then each shot says what is in it, and two have no hotspot
    assert shots.status_code == 200, shots.text
    assert shots.json() == {
        "episode_id": ids["episode"],
        "shots": [
            {"start_ms": 0, "end_ms": 299, "approved": 1, "proposed": 0},
            {"start_ms": 300, "end_ms": 599, "approved": 0, "proposed": 1},
            {"start_ms": 600, "end_ms": 900, "approved": 0, "proposed": 0},
        ],
        "without_hotspot": 2,
    }
    # And a product drawn in the third shot leaves one
    drawn = client.post(
        f"/v1/episodes/{ids['episode']}/placements",
        json={
            "product_id": str(cola.id),
            "start_ms": 600,
            "end_ms": 900,
            "keyframes": [{"t_ms": 700, "box": [0.1, 0.1, 0.3, 0.3]}],
        },
        headers=brand.headers,
    )
    assert drawn.status_code == 201, drawn.text
    assert client.get(url, headers=brand.headers).json()["without_hotspot"] == 1
    # (a re-tag by a tagger that reports no shots keeps the ones the episode has)
    tagger.shots = None
    _retag(client, brand, ids["episode"])
    assert len(client.get(url, headers=brand.headers).json()["shots"]) == 3
    # (another brand's key does not see them)
    assert client.get(url, headers=other_brand.headers).status_code == 404


def test_an_episode_never_tagged_has_no_shots_yet(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)

    shots = client.get(f"/v1/episodes/{episode.id}/shots", headers=brand.headers)

    assert shots.json() == {"episode_id": str(episode.id), "shots": None, "without_hotspot": 0}


def test_a_failed_re_tag_keeps_the_episode_tagged_and_its_hotspots_live(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path
) -> None:
    cola, _ = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-1")
    # Given an episode tagged once, its approved placement live on its timeline
    tagger = FakeTagger([_draft(cola.id, PlacementStatus.APPROVED, link_confidence=0.93)])
    client, ids = _run_with(engine, settings, tagger, brand, tmp_path)
    timeline = client.get(f"/v1/episodes/{ids['episode']}/timeline").json()
    assert [p["product"]["title"] for p in timeline["placements"]] == ["Cola 330 ml"]

    # When a re-tag fails
    tagger.error = VideoError("ep.mp4: decoding failed at 2.1 s")
    failed = _retag(client, brand, ids["episode"])

    # Then the job is failed and says why, and that the earlier tag's placements stay
    assert (failed["state"], failed["phase"], failed["error"], failed["summary"]) == (
        "failed",
        "finished",
        "ep.mp4: decoding failed at 2.1 s",
        "failed while in phase detect: ep.mp4: decoding failed at 2.1 s; "
        "the episode keeps its earlier tag's placements",
    )
    # And the episode is still tagged, its hotspot still live
    assert client.get(f"/v1/episodes/{ids['episode']}", headers=brand.headers).json()["status"] == "tagged"
    assert client.get(f"/v1/episodes/{ids['episode']}/timeline").json() == timeline
