"""Player events (public, batched, size-bounded) and brand analytics."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from starlette.concurrency import run_in_threadpool

from api.analytics.schemas import AnalyticsReport, EventBatch, EventReceipt
from api.analytics.service import ReportDays, funnel, record_events
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


# A day as YYYY-MM-DD and nothing else: a date-time, a week date or a Unix time (which a lax date type would
# take) is refused rather than read as some day.
_DAY = r"^\d{4}-\d{2}-\d{2}$"
Since = Annotated[
    str | None,
    Query(
        pattern=_DAY,
        examples=["2026-12-01"],
        description="Count from this UTC day (YYYY-MM-DD), included: events by the day they occurred, "
        "checkouts by the day they opened, orders by the day ReelCart recorded their payment. Leave out for "
        "everything so far.",
    ),
]
Until = Annotated[
    str | None,
    Query(
        pattern=_DAY,
        examples=["2026-12-07"],
        description="Count up to this UTC day (YYYY-MM-DD), included. Leave out for up to now.",
    ),
]


def _day(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Problem(422, f"`{name}` ({value}) is not a day of the calendar", slug="invalid-range") from None


def report_days(since: Since = None, until: Until = None) -> ReportDays:
    first, last = _day("since", since), _day("until", until)
    if first is not None and last is not None and first > last:
        raise Problem(
            422,
            f"`since` ({first.isoformat()}) is after `until` ({last.isoformat()}): no day is in that range",
            slug="invalid-range",
        )
    return ReportDays(since=first, until=last)


DaysDep = Annotated[ReportDays, Depends(report_days)]


@router.get(
    "/analytics/episodes/{episode_id}",
    response_model=AnalyticsReport,
    responses={422: {"description": "A malformed day, or `since` after `until`"}},
)
def episode_analytics(
    episode_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep, days: DaysDep
) -> AnalyticsReport:
    episode = get_episode(session, brand_id, episode_id)
    return funnel(session, brand_id, episode_id=episode.id, scope=f"episode:{episode.id}", days=days)


@router.get(
    "/analytics/brands/me",
    response_model=AnalyticsReport,
    responses={422: {"description": "A malformed day, or `since` after `until`"}},
)
def brand_analytics(brand_id: BrandIdDep, session: SessionDep, days: DaysDep) -> AnalyticsReport:
    return funnel(session, brand_id, episode_id=None, scope=f"brand:{brand_id}", days=days)
