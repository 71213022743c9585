"""The review console's episode list in real Chromium against the REAL API (tests/web/real_api.py): a
brand deletes an episode (its placements leave the queue and its public timeline is gone), is told why one
shoppers bought from or one a job is working on is kept, and transcodes again an episode a full disk left
unplayable."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Request, Route, expect
from sqlmodel import Session, select

from api.analytics.counting import count_events
from api.analytics.models import Event
from api.brands.models import CheckoutProviderName
from api.checkout.models import CheckoutSession, Order
from api.episodes.models import Episode, EpisodeStatus, TagJob, TranscodeJob
from api.jobs.models import JobState
from api.review.models import Placement, PlacementStatus
from tests.utils.web import PageErrors
from tests.web import factories
from tests.web.console import current_id, queue_ids, sign_in
from tests.web.factories import Keyframe
from tests.web.media import TestVideo
from tests.web.real_api import LiveApi, start_live_api
from tests.web.seed import (
    PlacementSeed,
    SeededBrand,
    SeededPlacement,
    SeededProduct,
    revoke_keys,
    rows,
    seed_brand,
    seed_checkout,
    seed_episode,
    seed_placements,
    seed_product,
)

pytestmark = pytest.mark.browser

COLA = factories.make_product("prod_cola", "Cola Zero", "Fizz")
TASTE_TEST = "Episode 1: The Taste Test"
PILOT = "Episode 0: The Pilot"
EN_DASH = "\u2013"  # the console writes a missing rate or amount as an en dash


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    api = start_live_api(tmp_path_factory.mktemp("episodes-console-api"))
    yield api
    api.stop()


def proposal(
    product: SeededProduct,
    start_ms: int,
    status: PlacementStatus = PlacementStatus.PROPOSED,
    chosen: SeededProduct | None = None,
) -> PlacementSeed:
    return PlacementSeed(
        label="bottle",
        start_ms=start_ms,
        end_ms=start_ms + 1000,
        keyframes=(Keyframe(start_ms, (0.3, 0.3, 0.2, 0.3)),),
        candidates=((product, 0.6),),
        link_confidence=0.6,
        status=status,
        chosen=chosen,
    )


def open_episodes(page: Page) -> Locator:
    page.get_by_role("button", name="Episodes…").click()
    dialog = page.get_by_role("dialog", name="Episodes")
    expect(dialog).to_be_visible()
    return dialog


def row(dialog: Locator, episode_id: uuid.UUID) -> Locator:
    return dialog.locator(f'li[data-episode="{episode_id}"]')


def test_a_brand_deletes_an_episode_and_its_placements_leave_the_queue_and_its_timeline_is_gone(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors, artifacts_dir: Path
) -> None:
    page = desk_page
    # Given a brand with two episodes: the taste test with two proposals and one live placement, the pilot
    # (registered later, so listed first) with one proposal
    brand = seed_brand(live_api.engine, "episode-deleter")
    cola = seed_product(live_api.engine, brand, COLA)
    taste_test = seed_episode(live_api.engine, brand, test_video, title=TASTE_TEST)
    doomed = seed_placements(
        live_api.engine,
        live_api.settings,
        taste_test,
        [
            proposal(cola, 0),
            proposal(cola, 1500),
            proposal(cola, 2500, status=PlacementStatus.APPROVED, chosen=cola),
        ],
    )
    pilot = seed_episode(live_api.engine, brand, test_video, title=PILOT)
    kept = seed_placements(live_api.engine, live_api.settings, pilot, [proposal(cola, 500)])
    timeline = f"{live_api.base_url}/v1/episodes/{taste_test}/timeline"
    assert len(page.request.get(timeline).json()["placements"]) == 1

    sign_in(page, live_api.base_url, brand.key)
    expect(page.locator("#queue li")).to_have_count(3)

    # When the brand opens its episodes, each with what it is and how long it runs
    dialog = open_episodes(page)
    expect(dialog.locator("li")).to_have_text(
        [
            re.compile(rf"^{PILOT} tagged · 4\.0 s Tag again Results Add a hotspot… Delete…$"),
            re.compile(rf"^{TASTE_TEST} tagged · 4\.0 s Tag again Results Add a hotspot… Delete…$"),
        ]
    )

    # And asks to delete the taste test but keeps it on second thought: nothing is deleted
    row(dialog, taste_test).get_by_role("button", name=f"Delete “{TASTE_TEST}”…").click()
    expect(row(dialog, taste_test)).to_contain_text(
        f"Delete “{TASTE_TEST}”, its placements and its analytics?"
    )
    expect(row(dialog, taste_test).get_by_role("button", name="Delete for good")).to_be_focused()
    page.screenshot(path=artifacts_dir / "review-episodes-confirm.png")
    row(dialog, taste_test).get_by_role("button", name="Keep it").click()
    expect(row(dialog, taste_test).get_by_role("button", name="Delete for good")).to_have_count(0)
    assert page.request.get(timeline).ok

    # And then deletes it for good
    row(dialog, taste_test).get_by_role("button", name=f"Delete “{TASTE_TEST}”…").click()
    row(dialog, taste_test).get_by_role("button", name="Delete for good").click()

    # Then the console says so, the list keeps the pilot only, and the queue holds only the pilot's proposal
    expect(dialog.locator("#episodes-message")).to_have_text(
        f"Deleted “{TASTE_TEST}”: its placements are off the timeline and out of the queue."
    )
    expect(dialog.locator("li")).to_have_count(1)
    expect(row(dialog, pilot)).to_be_visible()
    expect(page.locator("#queue li")).to_have_count(1)
    assert queue_ids(page) == [str(kept[0].id)]

    # And the API agrees: the episode, its placements and its public timeline are gone
    assert page.request.get(timeline).status == 404
    assert rows(live_api.engine, Episode, Episode.id == taste_test) == []
    assert rows(live_api.engine, Placement, Placement.id.in_([p.id for p in doomed])) == []  # type: ignore[attr-defined]

    # And once the last proposal is decided, the empty queue no longer links the deleted episode
    dialog.get_by_role("button", name="Close").click()
    page.locator("body").press("r")
    expect(page.locator("#done-episodes li")).to_have_count(1)
    expect(page.locator("#done-episodes li")).to_contain_text(PILOT)
    assert page_errors == []


def test_an_episode_sold_from_or_being_tagged_is_kept_and_the_console_says_what_to_do(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given an episode a shopper started a checkout from, and one with a tag job queued
    brand = seed_brand(live_api.engine, "episode-keeper")
    cola = seed_product(live_api.engine, brand, COLA)
    sold = seed_episode(live_api.engine, brand, test_video, title=TASTE_TEST)
    [bought_from] = seed_placements(live_api.engine, live_api.settings, sold, [proposal(cola, 0)])
    seed_checkout(live_api.engine, brand, bought_from.id, cola.variants[0], "click-episode-console")
    tagging = seed_episode(live_api.engine, brand, test_video, title=PILOT, status=EpisodeStatus.TAGGING)
    with Session(live_api.engine) as session:
        job = TagJob(brand_id=brand.id, episode_id=tagging)
        session.add(job)
        session.commit()
        job_id = job.id

    sign_in(page, live_api.base_url, brand.key)
    dialog = open_episodes(page)
    expect(row(dialog, tagging)).to_contain_text(f"{PILOT} being tagged")

    # When the brand deletes the episode it sold from
    row(dialog, sold).get_by_role("button", name=f"Delete “{TASTE_TEST}”…").click()
    row(dialog, sold).get_by_role("button", name="Delete for good").click()

    # Then it is kept, and the console says why and how to take its hotspots down
    message = dialog.locator("#episodes-message")
    expect(message).to_have_text(
        "Not deleted: shoppers started checkouts from its hotspots, so it stays with your sales records. "
        "Reject its placements in the queue to take its hotspots down."
    )
    expect(message).to_have_class(re.compile(r"\berror\b"))
    expect(row(dialog, sold).get_by_role("button", name=f"Delete “{TASTE_TEST}”…")).to_be_visible()
    assert rows(live_api.engine, Episode, Episode.id == sold) != []
    expect(page.locator("#queue li")).to_have_count(1)

    # And the episode being tagged is kept until its job is done
    row(dialog, tagging).get_by_role("button", name=f"Delete “{PILOT}”…").click()
    row(dialog, tagging).get_by_role("button", name="Delete for good").click()
    expect(message).to_have_text(
        f"Not deleted: the episode has a queued tag job ({job_id}); delete it once the job is done."
    )
    assert rows(live_api.engine, Episode, Episode.id == tagging) != []

    # And a key revoked meanwhile sends the brand back to the key prompt, the dialog closed
    revoke_keys(live_api.engine, brand)
    row(dialog, tagging).get_by_role("button", name=f"Delete “{PILOT}”…").click()
    row(dialog, tagging).get_by_role("button", name="Delete for good").click()
    expect(page.get_by_label("API key")).to_be_visible()
    expect(dialog).to_be_hidden()
    assert rows(live_api.engine, Episode, Episode.id == tagging) != []

    # And another brand signing in on this page sees its own episodes, none of the first's messages
    other = seed_brand(live_api.engine, "episode-keeper-next")
    seed_episode(live_api.engine, other, test_video, title="Their episode")
    sign_in(page, live_api.base_url, other.key)
    dialog = open_episodes(page)
    expect(dialog.locator("li")).to_have_text([re.compile(r"^Their episode ")])
    expect(dialog.locator("#episodes-message")).to_have_text("")
    assert page_errors == []


def _unplayable(
    live_api: LiveApi, brand: SeededBrand, test_video: TestVideo, title: str, source: Path
) -> uuid.UUID:
    """An episode whose transcode failed on a full disk; its upload is kept at `source` if that exists."""
    episode_id = seed_episode(
        live_api.engine,
        brand,
        test_video,
        title=title,
        status=EpisodeStatus.UNPLAYABLE,
        media_error="No space left on device",
    )
    with Session(live_api.engine) as session:
        session.add(
            TranscodeJob(
                brand_id=brand.id,
                episode_id=episode_id,
                source_path=str(source),
                state=JobState.FAILED,
                error="No space left on device",
            )
        )
        session.commit()
    return episode_id


def test_an_episode_a_full_disk_left_unplayable_is_transcoded_again(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors, tmp_path: Path
) -> None:
    page = desk_page
    # Given two episodes a full disk left unplayable: one whose upload is kept, one whose upload is gone
    brand = seed_brand(live_api.engine, "episode-retrier")
    kept_upload = tmp_path / f"{uuid.uuid4()}.mov"
    kept_upload.write_bytes(test_video.path.read_bytes())
    retried = _unplayable(live_api, brand, test_video, TASTE_TEST, kept_upload)
    gone = _unplayable(live_api, brand, test_video, PILOT, tmp_path / "deleted.mov")

    sign_in(page, live_api.base_url, brand.key)
    dialog = open_episodes(page)
    expect(row(dialog, retried)).to_have_text(
        f"{TASTE_TEST} unplayable (No space left on device) · 4.0 s Transcode again Delete…"
    )

    # When the brand transcodes the kept one again
    row(dialog, retried).get_by_role("button", name="Transcode again").click()

    # Then the console says so, the episode is being made playable, and a transcode job is queued for it
    message = dialog.locator("#episodes-message")
    expect(message).to_have_text(f"Transcoding “{TASTE_TEST}” again; tag it once it is ready.")
    expect(row(dialog, retried)).to_have_text(
        re.compile(rf"^{TASTE_TEST} being made playable( 0%)? · 4\.0 s Delete…$")
    )
    [episode] = rows(live_api.engine, Episode, Episode.id == retried)
    assert episode.status == EpisodeStatus.PROCESSING
    jobs = rows(live_api.engine, TranscodeJob, TranscodeJob.episode_id == retried)
    assert [(job.state, job.source_path) for job in jobs] == [
        (JobState.FAILED, str(kept_upload)),
        (JobState.QUEUED, str(kept_upload)),
    ]

    # And the console follows the worker's progress through the video
    with Session(live_api.engine) as session:
        running = session.get(TranscodeJob, jobs[1].id)
        assert running is not None
        running.state, running.progress = JobState.RUNNING, 0.4
        session.add(running)
        session.commit()
    expect(row(dialog, retried)).to_have_text(f"{TASTE_TEST} being made playable 40% · 4.0 s Delete…")

    # And when the worker has made it playable, the console says it can be tagged now
    with Session(live_api.engine) as session:
        queued = session.get(TranscodeJob, jobs[1].id)
        playable = session.get(Episode, retried)
        assert queued is not None
        assert playable is not None
        queued.state, queued.progress = JobState.DONE, 1.0
        playable.status = EpisodeStatus.REGISTERED
        session.add_all([queued, playable])
        session.commit()
    expect(message).to_have_text(f"“{TASTE_TEST}” plays in browsers now: tag it to find its products.")
    expect(row(dialog, retried)).to_have_text(
        f"{TASTE_TEST} not tagged yet · 4.0 s Tag Results Add a hotspot… Delete…"
    )

    # And one whose transcode fails again says why, and can be tried again
    again = _unplayable(live_api, brand, test_video, "Episode 2: The Retry", kept_upload)
    dialog.get_by_role("button", name="Close").click()
    dialog = open_episodes(page)
    row(dialog, again).get_by_role("button", name="Transcode again").click()
    expect(row(dialog, again)).to_contain_text("being made playable")
    reason = "the transcode needs 2.1 GB free in the media dir; 0.3 GB are"
    with Session(live_api.engine) as session:
        failing = session.exec(
            select(TranscodeJob).where(
                TranscodeJob.episode_id == again, TranscodeJob.state == JobState.QUEUED
            )
        ).one()
        unplayable = session.get(Episode, again)
        assert unplayable is not None
        failing.state, failing.error = JobState.FAILED, reason
        unplayable.status, unplayable.media_error = EpisodeStatus.UNPLAYABLE, reason
        session.add_all([failing, unplayable])
        session.commit()
    expect(message).to_have_text(f"“Episode 2: The Retry” could not be made playable: {reason}")
    expect(row(dialog, again)).to_have_text(
        f"Episode 2: The Retry unplayable ({reason}) · 4.0 s Transcode again Delete…"
    )

    # And the one whose upload is gone says to upload it again, and stays unplayable
    row(dialog, gone).get_by_role("button", name="Transcode again").click()
    expect(message).to_contain_text("Not transcoded again: the episode's file is no longer stored")
    expect(message).to_contain_text("upload the video again as a new episode")
    [still] = rows(live_api.engine, Episode, Episode.id == gone)
    assert still.status == EpisodeStatus.UNPLAYABLE
    expect(row(dialog, gone)).to_contain_text("unplayable (No space left on device)")
    assert page_errors == []


def test_a_brand_with_many_episodes_loads_the_rest_on_request(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given a brand with more episodes than the dialog lists at once (25)
    brand = seed_brand(live_api.engine, "episode-library")
    for n in range(27):
        seed_episode(live_api.engine, brand, test_video, title=f"Episode {n}")

    # When the brand opens its episodes, the newest 25 are listed, then the rest on request, each once
    sign_in(page, live_api.base_url, brand.key)
    dialog = open_episodes(page)
    expect(dialog.locator("li")).to_have_count(25)
    expect(dialog.locator("li").first).to_contain_text("Episode 26 ")
    dialog.get_by_role("button", name="Load more").click()
    expect(dialog.locator("li")).to_have_count(27)
    expect(dialog.locator("li").last).to_contain_text("Episode 0 ")
    expect(dialog.get_by_role("button", name="Load more")).to_be_hidden()
    assert page_errors == []


def test_an_upload_whose_connection_dropped_is_finished_by_sending_it_again_as_one_episode(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors, tmp_path: Path
) -> None:
    page = desk_page
    brand = seed_brand(live_api.engine, "episode-uploader")
    title = "Episode 2: The Upload"
    # Given a connection that drops after the API stored the first upload, before its answer came back
    keys: list[str] = []

    def drop_the_answer(route: Route) -> None:
        # The API gets the whole upload, as the browser sent it, and registers it; the answer is lost.
        # (An intercepted request does not carry a file body along, so the file's bytes are given here.)
        route.fetch(post_data=test_video.path.read_bytes())
        route.abort("connectionreset")

    page.route("**/v1/episodes/upload?*", drop_the_answer, times=1)

    def record_key(request: Request) -> None:
        if request.method == "POST" and "/v1/episodes/upload" in request.url:
            keys.append(request.headers.get("idempotency-key", ""))

    page.on("request", record_key)
    sign_in(page, live_api.base_url, brand.key)
    dialog = open_episodes(page)
    expect(dialog.locator("#episodes-none")).to_be_visible()

    # When the brand uploads a video under a title
    dialog.get_by_label("Title").fill(title)
    dialog.get_by_label("Video").set_input_files(test_video.path)
    dialog.get_by_role("button", name="Upload", exact=True).click()

    # Then it is told the connection dropped and to send the same file again
    message = dialog.locator("#episodes-message")
    expect(message).to_have_text(
        "Not uploaded: the connection dropped before the API answered; upload the same file again to finish"
    )
    assert [e.title for e in rows(live_api.engine, Episode, Episode.brand_id == brand.id)] == [title]

    # And sending it again, the file picked again, answers the episode the first upload registered: one
    # episode, listed, to tag
    dialog.get_by_label("Video").set_input_files(test_video.path)
    dialog.get_by_role("button", name="Upload", exact=True).click()
    expect(message).to_have_text(f"Uploaded “{title}”. Tag it to find its products.")
    [episode] = rows(live_api.engine, Episode, Episode.brand_id == brand.id)
    assert len(set(keys)) == len(keys) - 1 == 1
    assert re.fullmatch(r"[0-9a-f]{32}", keys[0])
    expect(row(dialog, episode.id)).to_have_text(
        f"{title} not tagged yet · 4.0 s Tag Results Add a hotspot… Delete…"
    )
    expect(dialog.get_by_label("Title")).to_have_value("")

    # And the next video goes up in full from the browser itself, under a key of its own
    dialog.get_by_label("Title").fill("Episode 3: The Sequel")
    dialog.get_by_label("Video").set_input_files(test_video.path)
    dialog.get_by_role("button", name="Upload", exact=True).click()
    expect(message).to_have_text("Uploaded “Episode 3: The Sequel”. Tag it to find its products.")
    sequel = rows(live_api.engine, Episode, Episode.title == "Episode 3: The Sequel")[0]
    assert sequel.upload_bytes == test_video.path.stat().st_size
    assert (sequel.duration_ms, sequel.width, sequel.height) == (
        test_video.duration_ms,
        test_video.width,
        test_video.height,
    )
    assert len(set(keys)) == len(keys) - 1 == 2

    # And a file that is no video is refused with the API's reason, and nothing is stored
    not_a_video = tmp_path / "notes.txt"
    not_a_video.write_text("not a video at all\n" * 50)
    dialog.get_by_label("Title").fill("Episode 4: Notes")
    dialog.get_by_label("Video").set_input_files(not_a_video)
    dialog.get_by_role("button", name="Upload", exact=True).click()
    expect(message).to_have_text(re.compile(r"^Not uploaded: (?!upload is empty)."))
    expect(message).to_have_class(re.compile(r"\berror\b"))
    assert len(rows(live_api.engine, Episode, Episode.brand_id == brand.id)) == 2
    assert len(set(keys)) == len(keys) - 1 == 3  # another file, another key
    assert page_errors == []


def _update_job(live_api: LiveApi, job_id: uuid.UUID, **changes: object) -> None:
    """What the worker writes as it runs the job (the live API here queues jobs and runs none)."""
    with Session(live_api.engine) as session:
        job = session.get(TagJob, job_id)
        assert job is not None
        for name, value in changes.items():
            setattr(job, name, value)
        session.add(job)
        session.commit()


def test_tagging_from_the_console_follows_the_job_and_brings_its_placements_to_the_queue(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given an episode registered but not tagged, and an empty queue
    brand = seed_brand(live_api.engine, "episode-tagger")
    cola = seed_product(live_api.engine, brand, COLA)
    episode_id = seed_episode(
        live_api.engine, brand, test_video, title=TASTE_TEST, status=EpisodeStatus.REGISTERED
    )
    sign_in(page, live_api.base_url, brand.key)
    expect(page.locator("#done")).to_be_visible()
    dialog = open_episodes(page)
    expect(row(dialog, episode_id)).to_have_text(
        f"{TASTE_TEST} not tagged yet · 4.0 s Tag Results Add a hotspot… Delete…"
    )

    # When the brand tags it
    row(dialog, episode_id).get_by_role("button", name="Tag", exact=True).click()

    # Then a tag job is queued and followed as the worker runs it
    message = dialog.locator("#episodes-message")
    expect(message).to_have_text(
        f"Tagging “{TASTE_TEST}”: its products go to the queue when the job is done."
    )
    [job] = rows(live_api.engine, TagJob, TagJob.episode_id == episode_id)
    assert job.state == JobState.QUEUED
    expect(row(dialog, episode_id)).to_have_text(
        f"{TASTE_TEST} being tagged 0% · 4.0 s Results Add a hotspot… Delete…"
    )
    _update_job(live_api, job.id, state=JobState.RUNNING, progress=0.5)
    expect(row(dialog, episode_id)).to_have_text(
        f"{TASTE_TEST} being tagged 50% · 4.0 s Results Add a hotspot… Delete…"
    )

    # And when it is done, the console says what it found and the queue holds its proposals
    seed_placements(live_api.engine, live_api.settings, episode_id, [proposal(cola, 0), proposal(cola, 2000)])
    summary = "2 placements: 0 approved automatically, 2 for review"
    _update_job(live_api, job.id, state=JobState.DONE, progress=1.0, summary=summary, placements_found=2)
    expect(message).to_have_text(f"Tagged “{TASTE_TEST}”: {summary}. 2 to review are in the queue.")
    expect(row(dialog, episode_id)).to_have_text(
        f"{TASTE_TEST} tagged · 4.0 s Tag again Results Add a hotspot… Delete…"
    )
    expect(page.locator("#queue li")).to_have_count(2)

    # And a tag job a colleague queued meanwhile is named, not doubled
    with Session(live_api.engine) as session:
        colleagues = TagJob(brand_id=brand.id, episode_id=episode_id)
        session.add(colleagues)
        session.commit()
        colleagues_id = colleagues.id
    row(dialog, episode_id).get_by_role("button", name="Tag again").click()
    expect(message).to_have_text(f"Not tagged: episode already has a queued tag job ({colleagues_id}).")
    assert len(rows(live_api.engine, TagJob, TagJob.episode_id == episode_id)) == 2
    assert page_errors == []


def _viewers(
    live_api: LiveApi,
    brand: SeededBrand,
    placement: SeededPlacement,
    *,
    days_ago: int = 0,
    now: datetime | None = None,
    **counts: int,
) -> None:
    """What the player reported of one hotspot (as the events route stores and counts it):
    `hotspot_impression=10`, `days_ago` days before `now` (the clock's, unless given)."""
    occurred = (now or datetime.now(UTC)) - timedelta(days=days_ago)
    with Session(live_api.engine) as session:
        stored = session.get(Placement, placement.id)
        assert stored is not None
        for kind, times in counts.items():
            rows = [
                Event(
                    type=kind,
                    brand_id=brand.id,
                    episode_id=stored.episode_id,
                    placement_id=stored.id,
                    click_id=f"click-{placement.id.hex[:8]}-{days_ago}-{n}"
                    if kind == "checkout_started"
                    else None,
                    occurred_at=occurred,
                    received_at=occurred,
                )
                for n in range(times)
            ]
            session.add_all(rows)
            count_events(session, rows)
        session.commit()


def _sold(
    live_api: LiveApi,
    brand: SeededBrand,
    placement: SeededPlacement,
    product: SeededProduct,
    refunded: str,
    *,
    days_ago: int = 0,
    now: datetime | None = None,
) -> None:
    """A checkout from the hotspot, paid (two at 1.99 EUR) and partly refunded, `days_ago` days before `now`
    (the clock's, unless given)."""
    when = (now or datetime.now(UTC)) - timedelta(days=days_ago)
    with Session(live_api.engine) as session:
        stored = session.get(Placement, placement.id)
        assert stored is not None
        checkout = CheckoutSession(
            brand_id=brand.id,
            click_id=f"click-{placement.id.hex[:8]}-{days_ago}-0",
            placement_id=stored.id,
            episode_id=stored.episode_id,
            variant_id=product.variants[0].id,
            quantity=2,
            provider=CheckoutProviderName.STRIPE,
            amount=Decimal("3.98"),
            currency="EUR",
            created_at=when,
        )
        session.add(checkout)
        session.flush()
        session.add(
            Order(
                brand_id=brand.id,
                provider=CheckoutProviderName.STRIPE,
                provider_event_id=f"evt_{placement.id.hex[:8]}",
                checkout_session_id=checkout.id,
                placement_id=stored.id,
                episode_id=stored.episode_id,
                amount=Decimal("3.98"),
                currency="EUR",
                refunded_amount=Decimal(refunded),
                created_at=when,
            )
        )
        session.commit()


def test_a_brand_reads_what_each_episodes_hotspots_sold(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors, artifacts_dir: Path
) -> None:
    page = desk_page
    # Given an episode whose cola hotspot was shown, tapped and sold (one order, partly refunded) and whose
    # water hotspot was only shown, a proposal never shown, and an episode nobody watched yet
    brand = seed_brand(live_api.engine, "episode-results")
    cola = seed_product(live_api.engine, brand, COLA)
    water = seed_product(live_api.engine, brand, factories.make_product("prod_water", "Still Water", "Fizz"))
    watched = seed_episode(live_api.engine, brand, test_video, title=TASTE_TEST)
    sold, shown, _ = seed_placements(
        live_api.engine,
        live_api.settings,
        watched,
        [
            proposal(cola, 0, status=PlacementStatus.APPROVED, chosen=cola),
            proposal(water, 1500, status=PlacementStatus.APPROVED, chosen=water),
            proposal(cola, 2500),
        ],
    )
    _viewers(live_api, brand, sold, hotspot_impression=10, hotspot_tap=4, checkout_started=2)
    _viewers(live_api, brand, shown, hotspot_impression=5)
    _sold(live_api, brand, sold, cola, refunded="1.99")
    unwatched = seed_episode(live_api.engine, brand, test_video, title=PILOT)

    # When the brand opens its episodes, the brand's totals come first
    sign_in(page, live_api.base_url, brand.key)
    dialog = open_episodes(page)
    expect(dialog.locator("#episodes-totals")).to_have_text(
        "All episodes: shown 15 times · 4 taps · 2 Buy presses · 1 order · 1.99 EUR kept · 1.99 EUR refunded."
    )

    # And the watched episode's results show each hotspot that was shown, tapped or sold
    results = row(dialog, watched).get_by_role("button", name="Results")
    results.click()
    expect(results).to_have_attribute("aria-expanded", "true")
    table = row(dialog, watched).get_by_role("table")
    expect(table.locator("tr")).to_have_text(
        [
            "HotspotShownTapsTap rateBuy pressesOrdersKept",
            "Cola Zero10440%211.99 EUR",
            f"Still Water500%00{EN_DASH}",
        ]
    )
    page.screenshot(path=artifacts_dir / "review-episode-results.png")

    # And the one nobody watched says so; hiding results hides them
    row(dialog, unwatched).get_by_role("button", name="Results").click()
    expect(row(dialog, unwatched).locator(".ep-results")).to_have_text(
        "shown 0 times · 0 taps · 0 Buy presses · 0 orders. No hotspot of it has been shown to a viewer yet."
    )
    results.click()
    expect(row(dialog, watched).get_by_role("table")).to_have_count(0)
    assert page_errors == []


def test_a_brand_reads_its_results_for_the_last_days(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given a hotspot shown and sold 40 days ago, shown and tapped 3 days ago, and shown today
    brand = seed_brand(live_api.engine, "results-by-days")
    cola = seed_product(live_api.engine, brand, COLA)
    watched = seed_episode(live_api.engine, brand, test_video, title=TASTE_TEST)
    [hotspot] = seed_placements(
        live_api.engine,
        live_api.settings,
        watched,
        [proposal(cola, 0, status=PlacementStatus.APPROVED, chosen=cola)],
    )
    # One "now" for the events and the browser's clock (which picks the days asked for): a run across UTC
    # midnight sees the same days on both sides.
    now = datetime.now(UTC)
    page.clock.set_fixed_time(now)
    _viewers(
        live_api,
        brand,
        hotspot,
        days_ago=40,
        now=now,
        hotspot_impression=10,
        hotspot_tap=4,
        checkout_started=2,
    )
    _sold(live_api, brand, hotspot, cola, refunded="0", days_ago=40, now=now)
    _viewers(live_api, brand, hotspot, days_ago=3, now=now, hotspot_impression=3, hotspot_tap=1)
    _viewers(live_api, brand, hotspot, now=now, hotspot_impression=2)
    sign_in(page, live_api.base_url, brand.key)
    dialog = open_episodes(page)
    totals = dialog.locator("#episodes-totals")
    expect(totals).to_have_text(
        "All episodes: shown 15 times · 5 taps · 2 Buy presses · 1 order · 3.98 EUR kept."
    )
    row(dialog, watched).get_by_role("button", name="Results").click()
    table_row = row(dialog, watched).locator(f'tr[data-placement="{hotspot.id}"]')
    expect(table_row).to_have_text("Cola Zero15533%213.98 EUR")

    # When the brand picks the last 7 days: the totals and the episode's results shown are for them
    days = dialog.get_by_label("Results for")
    days.select_option(label="the last 7 days")
    expect(totals).to_have_text(
        "All episodes, the last 7 days: shown 5 times · 1 tap · 0 Buy presses · 0 orders."
    )
    expect(table_row).to_have_text(f"Cola Zero5120%00{EN_DASH}")

    # When it picks the last 30 days and, before they are read, today: what it sees is today's
    held: list[Route] = []
    thirty_days = f"since={(now - timedelta(days=29)).date().isoformat()}"

    def hold(route: Route) -> None:
        if thirty_days in route.request.url:
            held.append(route)
        else:
            route.continue_()

    page.route("**/v1/analytics/**", hold)
    days.select_option(label="the last 30 days")
    for _ in range(50):  # the route's handler runs while Playwright waits
        if len(held) == 2:
            break
        page.wait_for_timeout(100)
    assert len(held) == 2  # the totals and the episode's results
    days.select_option(label="today")
    expect(totals).to_have_text("All episodes, today: shown 2 times · 0 taps · 0 Buy presses · 0 orders.")
    for route in held:
        route.continue_()
    page.wait_for_timeout(300)  # the 30 days' answers arrive, and are dropped
    expect(totals).to_have_text("All episodes, today: shown 2 times · 0 taps · 0 Buy presses · 0 orders.")
    expect(table_row).to_have_text(f"Cola Zero200%00{EN_DASH}")

    # And back to all time: everything
    days.select_option(label="all time")
    expect(totals).to_have_text(
        "All episodes: shown 15 times · 5 taps · 2 Buy presses · 1 order · 3.98 EUR kept."
    )
    expect(table_row).to_have_text("Cola Zero15533%213.98 EUR")
    assert page_errors == []


@dataclass(frozen=True)
class Retagging:
    """A brand reviewing a proposal of one episode while a second episode, whose old proposal is in the queue
    too, is re-tagged from the console's Episodes dialog (left open)."""

    cola: SeededProduct
    under_review: SeededPlacement
    retagged: uuid.UUID
    replaced: SeededPlacement
    dialog: Locator
    job_id: uuid.UUID


def _retag_while_reviewing(
    page: Page, live_api: LiveApi, video: TestVideo, name: str, typed_end: str | None = None
) -> Retagging:
    brand = seed_brand(live_api.engine, name)
    cola = seed_product(live_api.engine, brand, COLA)
    reviewed = seed_episode(live_api.engine, brand, video, title=TASTE_TEST)
    [under_review] = seed_placements(live_api.engine, live_api.settings, reviewed, [proposal(cola, 0)])
    retagged = seed_episode(live_api.engine, brand, video, title=PILOT)
    [replaced] = seed_placements(live_api.engine, live_api.settings, retagged, [proposal(cola, 500)])
    sign_in(page, live_api.base_url, brand.key)
    expect(page.locator("#queue li")).to_have_count(2)
    page.locator(f'#queue li[data-placement="{under_review.id}"]').click()
    expect(page.locator('#queue li[aria-current="true"]')).to_have_attribute(
        "data-placement", str(under_review.id)
    )
    if typed_end is not None:
        page.locator("#edit-end").fill(typed_end)
    dialog = open_episodes(page)
    row(dialog, retagged).get_by_role("button", name="Tag again").click()
    expect(dialog.locator("#episodes-message")).to_contain_text(f"Tagging “{PILOT}”")
    [job] = rows(live_api.engine, TagJob, TagJob.episode_id == retagged)
    return Retagging(cola, under_review, retagged, replaced, dialog, job.id)


def _retag_done(
    live_api: LiveApi, retagging: Retagging, seeds: list[PlacementSeed]
) -> tuple[list[SeededPlacement], str]:
    """What the worker leaves when the re-tag replaces the old proposal with `seeds`: the new placements,
    and the job's summary."""
    with Session(live_api.engine) as session:
        old = session.get(Placement, retagging.replaced.id)
        assert old is not None
        session.delete(old)
        session.commit()
    fresh = seed_placements(live_api.engine, live_api.settings, retagging.retagged, seeds)
    n = len(seeds)
    summary = f"{n} placements: 0 approved automatically, {n} for review"
    _update_job(
        live_api, retagging.job_id, state=JobState.DONE, progress=1.0, summary=summary, placements_found=n
    )
    return fresh, summary


def test_a_tag_job_done_while_the_brand_reviews_adds_its_proposals_and_leaves_the_one_under_review(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given a brand reviewing a proposal of one episode, a span edit typed and not saved, and a second
    # episode being re-tagged whose old proposal is in the queue too
    retagging = _retag_while_reviewing(page, live_api, test_video, "episode-busy-reviewer", typed_end="900")
    cola, dialog = retagging.cola, retagging.dialog

    # When the re-tag replaces the old proposal with two new ones and is done
    fresh, summary = _retag_done(live_api, retagging, [proposal(cola, 1000), proposal(cola, 2000)])

    # Then the new proposals join the queue at its end, the replaced one leaves it, and the placement under
    # review keeps its place and the edit typed into it
    expect(dialog.locator("#episodes-message")).to_have_text(
        f"Tagged “{PILOT}”: {summary}. 2 to review are in the queue."
    )
    dialog.get_by_role("button", name="Close").click()
    expect(page.locator("#queue li")).to_have_count(3)
    first, *added = queue_ids(page)
    assert (first, sorted(added)) == (str(retagging.under_review.id), sorted(str(p.id) for p in fresh))
    assert current_id(page) == str(retagging.under_review.id)
    expect(page.locator("#edit-end")).to_have_value("900")
    assert page_errors == []


def test_a_tag_job_that_proposes_more_than_a_page_brings_every_proposal_to_the_queue(
    desk_page: Page, live_api: LiveApi, test_video: TestVideo, page_errors: PageErrors
) -> None:
    page = desk_page
    # Given a brand reviewing a proposal of one episode, and a second episode whose old proposal is in the
    # queue too, re-tagged from the console
    retagging = _retag_while_reviewing(page, live_api, test_video, "episode-long-tagger")
    cola, dialog = retagging.cola, retagging.dialog

    # When the re-tag replaces it with 230 proposals, more than one page of the queue API (200)
    many = [replace(proposal(cola, 100 * n), thumbnail=False) for n in range(230)]
    fresh, summary = _retag_done(live_api, retagging, many)

    # Then every one of them joins the queue after the placement under review, and the replaced one leaves
    expect(dialog.locator("#episodes-message")).to_have_text(
        f"Tagged “{PILOT}”: {summary}. 230 to review are in the queue.", timeout=15_000
    )
    dialog.get_by_role("button", name="Close").click()
    expect(page.locator("#queue li")).to_have_count(231)
    first, *added = queue_ids(page)
    assert (first, sorted(added)) == (str(retagging.under_review.id), sorted(str(p.id) for p in fresh))
    assert current_id(page) == str(retagging.under_review.id)
    assert page_errors == []
