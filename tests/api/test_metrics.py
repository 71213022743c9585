"""GET /metrics through HTTP, parsed with prometheus_client's parser: requests by route template,
jobs by kind and outcome, queue depth from the database, webhook deliveries and checkouts."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from api.episodes.models import TagJob
from api.jobs.models import JobState
from api.jobs.tagging import ProgressCallback, TagJobExecutor, TagOutcome
from api.linking.executor import LinkJobExecutor
from api.linking.models import LinkJob
from api.linking.service import BrandLinker, IndexProgress
from api.settings import ApiSettings
from tagger.exceptions import TaggerError
from tests.api.commerce_support import ACCOUNT, Shoppable, World, stripe_delivery, stripe_event_body
from tests.api.factories import make_episode
from tests.utils.api import BrandAccount
from tests.utils.metrics import METRICS_TOKEN, delta, scrape, value
from tests.utils.webhooks import paid_body, tap

PROBLEM = "application/problem+json"


@pytest.fixture
def settings(settings: ApiSettings) -> ApiSettings:
    return settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})


def test_metrics_are_off_without_a_token_and_refuse_a_wrong_one(
    client: TestClient, settings: ApiSettings
) -> None:
    wrong = client.get("/metrics", headers={"Authorization": "Bearer guessed"})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == PROBLEM
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/metrics").status_code == 401

    settings.metrics_token = None  # the app reads its settings per request
    off = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert (off.status_code, off.headers["content-type"]) == (404, PROBLEM)


def test_requests_are_counted_by_route_template_and_status_with_latency(
    client: TestClient, brand: BrandAccount
) -> None:
    route = "/v1/episodes/{episode_id}"
    before = scrape(client)

    for _ in range(2):  # two different ids: one series, by the route's template
        response = client.get(f"/v1/episodes/{uuid.uuid4()}", headers=brand.headers)
        assert response.status_code == 404
    assert client.get("/v1/episodes", headers=brand.headers).status_code == 200
    assert client.get(f"/v1/no-such-route/{uuid.uuid4()}").status_code == 404

    after = scrape(client)
    requests = "reelcart_http_requests_total"
    assert delta(before, after, requests, method="GET", route=route, status="404") == 2
    assert delta(before, after, requests, method="GET", route="/v1/episodes", status="200") == 1
    assert delta(before, after, requests, method="GET", route="<unmatched>", status="404") == 1
    assert not [key for key in after if key[0] == requests and ("route", f"/v1/episodes/{uuid}") in key[1]]
    latency = "reelcart_http_request_duration_seconds"
    assert delta(before, after, f"{latency}_count", method="GET", route=route) == 2
    assert delta(before, after, f"{latency}_bucket", method="GET", route=route, le="+Inf") == 2
    assert delta(before, after, f"{latency}_sum", method="GET", route=route) > 0


def test_queue_depth_counts_queued_and_running_jobs_in_the_database(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    episode = make_episode(engine, brand.brand.id, settings)
    # Given a tag job queued through the API (the test queue never runs it) and two link jobs
    assert client.post(f"/v1/episodes/{episode.id}/tag-jobs", headers=brand.headers).status_code == 202
    with Session(engine) as session:
        session.add(LinkJob(brand_id=brand.brand.id))
        session.add(LinkJob(brand_id=brand.brand.id, state=JobState.RUNNING))
        session.add(LinkJob(brand_id=brand.brand.id, state=JobState.DONE))
        session.commit()

    samples = scrape(client)

    assert value(samples, "reelcart_jobs_queued", kind="tag") == 1
    assert value(samples, "reelcart_jobs_queued", kind="link") == 1
    assert value(samples, "reelcart_jobs_running", kind="tag") == 0
    assert value(samples, "reelcart_jobs_running", kind="link") == 1
    # Tag and link jobs both go to the vision queue; nothing waits on io.
    assert value(samples, "reelcart_queue_depth", queue="vision") == 2
    assert ("reelcart_queue_depth", frozenset({("queue", "io")})) in samples
    assert value(samples, "reelcart_queue_depth", queue="io") == 0
    assert value(samples, "reelcart_database_up") == 1


def _no_placements(
    media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
) -> TagOutcome:
    return TagOutcome([], empty_reason="nothing to see")


def _undecodable(
    media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
) -> TagOutcome:
    raise TaggerError("the episode does not decode")


def _bug(
    media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
) -> TagOutcome:
    raise RuntimeError("a bug")


class _NoCatalog:
    def brand_linker(
        self, brand_id: uuid.UUID, *, on_progress: IndexProgress | None = None
    ) -> BrandLinker | None:
        return None


def test_jobs_are_counted_by_kind_and_outcome_with_durations(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # (one queued tag job per episode at a time)
    episodes = [make_episode(engine, brand.brand.id, settings) for _ in range(3)]
    with Session(engine, expire_on_commit=False) as session:
        tag_jobs = [TagJob(brand_id=brand.brand.id, episode_id=episode.id) for episode in episodes]
        link_job = LinkJob(brand_id=brand.brand.id)
        session.add_all([*tag_jobs, link_job])
        session.commit()
    before = scrape(client)

    # When the real executors run them: one finds nothing, one fails for its own reason, one crashes,
    # and the link job fails (the brand has no catalog to index)
    for job, tag in zip(tag_jobs, (_no_placements, _undecodable, _bug), strict=True):
        TagJobExecutor(engine, settings, tag)(job.id)
    LinkJobExecutor(engine, settings, _NoCatalog())(link_job.id)

    after = scrape(client)
    jobs = "reelcart_jobs_total"
    assert delta(before, after, jobs, kind="tag", outcome="done") == 1
    assert delta(before, after, jobs, kind="tag", outcome="failed") == 1
    assert delta(before, after, jobs, kind="tag", outcome="error") == 1
    assert delta(before, after, jobs, kind="link", outcome="failed") == 1
    durations = "reelcart_job_duration_seconds_count"
    assert delta(before, after, durations, kind="tag", outcome="done") == 1
    assert delta(before, after, durations, kind="link", outcome="failed") == 1
    with Session(engine) as session:
        states = [session.get(TagJob, job.id).state for job in tag_jobs]  # type: ignore[union-attr]
    assert states == ["done", "failed", "failed"]


def test_webhook_deliveries_are_counted_by_provider_and_outcome(world: World, hoodie: Shoppable) -> None:
    tap(world, hoodie)
    before = scrape(world.client)

    body = paid_body(world)
    assert stripe_delivery(world.client, body).status_code == 200
    assert stripe_delivery(world.client, body).status_code == 200  # redelivered
    ignored = stripe_event_body(
        {"id": "cus_1", "object": "customer"}, event_id="evt_c", event_type="customer.created"
    )
    assert stripe_delivery(world.client, ignored).status_code == 200
    assert stripe_delivery(world.client, body, secret="whsec_attacker_guess").status_code == 400

    after = scrape(world.client)
    webhooks = "reelcart_webhook_deliveries_total"
    for outcome, times in (
        ("processed", 1),
        ("duplicate", 1),
        ("ignored", 1),
        ("invalid-webhook-signature", 1),
    ):
        assert delta(before, after, webhooks, provider="stripe", outcome=outcome) == times, outcome


def test_held_refunds_and_deliveries_not_acknowledged_are_counted_apart(
    world: World, hoodie: Shoppable, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.webhooks.service as webhook_service  # noqa: PLC0415

    tap(world, hoodie)
    before = scrape(world.client)

    # A refund whose order is not recorded yet is held
    early = world.stripe.refunded_event("cs_test_0001", "evt_refund_early", ACCOUNT, refunded=5990)
    assert stripe_delivery(world.client, early).json()["outcome"].startswith("held: ")
    # A delivery that fails (here: the database, as the order is recorded) is not acknowledged
    with monkeypatch.context() as patched:

        def database_down(*_: object) -> None:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))

        patched.setattr(webhook_service, "_prefetch_product", database_down)
        assert stripe_delivery(world.client, paid_body(world)).status_code == 503
    # And the provider's next delivery is processed
    assert stripe_delivery(world.client, paid_body(world)).status_code == 200

    after = scrape(world.client)
    webhooks = "reelcart_webhook_deliveries_total"
    for outcome, times in (("held", 1), ("failed", 1), ("processed", 1)):
        assert delta(before, after, webhooks, provider="stripe", outcome=outcome) == times, outcome


def test_checkouts_are_counted_by_provider_and_outcome(world: World, hoodie: Shoppable) -> None:
    before = scrape(world.client)

    tap(world, hoodie, click_id="click-aaaa", provider="stripe")
    again = world.client.post(
        "/v1/checkout", json=hoodie.checkout_body(click_id="click-aaaa", provider="stripe")
    )
    assert again.status_code == 200
    tap(world, hoodie, click_id="click-bbbb", provider="shopify")
    gone = world.client.post(
        "/v1/checkout", json=hoodie.checkout_body(click_id="click-cccc", variant_id=str(uuid.uuid4()))
    )
    assert gone.status_code == 404

    after = scrape(world.client)
    checkouts = "reelcart_checkout_sessions_total"
    assert delta(before, after, checkouts, provider="stripe", outcome="created") == 1
    assert delta(before, after, checkouts, provider="stripe", outcome="replayed") == 1
    assert delta(before, after, checkouts, provider="shopify", outcome="created") == 1
    assert delta(before, after, checkouts, provider="default", outcome="not-found") == 1
