"""Player events (public, batched, size-bounded) and brand analytics."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, status
from starlette.concurrency import run_in_threadpool

from api.analytics.schemas import AnalyticsReport, EventBatch, EventReceipt
from api.analytics.service import funnel, record_events
from api.deps import BrandIdDep, SessionDep, SettingsDep
from api.episodes.service import get_episode
from api.problems import Problem
from api.rate_limits import RateLimiter, client_ip, viewer_key

router = APIRouter(prefix="/v1", tags=["analytics"])


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` written in place. In an OpenAPI document `#/$defs/…`
    points at the document's root, where there is none: ReDoc refused the whole document over it."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {key: value for key, value in node.items() if key != "$ref"}
                return {**resolve(defs[ref.removeprefix("#/$defs/")]), **resolve(rest)}
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventReceipt,
    tags=["public"],
    summary="Record player events (JSON; text/plain is accepted too, as navigator.sendBeacon may send it)",
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": _inlined(EventBatch.model_json_schema())}}}
    },
)
async def post_events(request: Request, session: SessionDep, settings: SettingsDep) -> EventReceipt:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/json", "text/plain")):
        raise Problem(415, "send the events as JSON")
    batch = EventBatch.model_validate_json(await request.body())
    limiter: RateLimiter = request.app.state.rate_limiter
    ip = client_ip(request.scope, settings)
    viewer = viewer_key(ip, request.headers.get("user-agent", ""))

    def record() -> EventReceipt:
        # Besides the requests (RateLimits), the events in them: a batch holds up to 200.
        limiter.check(
            settings.rate_limit_event_items,
            "event-items",
            ip,
            cost=len(batch.events),
            what="player events from your address",
        )
        receipt = record_events(
            session,
            batch,
            first_sighting=lambda key: limiter.first_sighting(
                settings.impression_dedupe_s, "impression", str(key), viewer
            ),
        )
        session.commit()
        return receipt

    # The database and a shared limit storage are blocking calls: off the event loop.
    return await run_in_threadpool(record)


@router.get("/analytics/episodes/{episode_id}", response_model=AnalyticsReport)
def episode_analytics(episode_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep) -> AnalyticsReport:
    episode = get_episode(session, brand_id, episode_id)
    return funnel(session, brand_id, episode_id=episode.id, scope=f"episode:{episode.id}")


@router.get("/analytics/brands/me", response_model=AnalyticsReport)
def brand_analytics(brand_id: BrandIdDep, session: SessionDep) -> AnalyticsReport:
    return funnel(session, brand_id, episode_id=None, scope=f"brand:{brand_id}")
