"""The public hotspot timeline: the player's hot path. Stored bytes, strong ETag (gzipped or not), 304 on
revalidation."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import select

from api.deps import SessionDep, SettingsDep
from api.episodes.models import Episode
from api.errors import NotFound
from api.timeline.schemas import TimelineV1
from api.timeline.service import etag_matches

router = APIRouter(prefix="/v1", tags=["public"])


@router.get(
    "/episodes/{episode_id}/timeline",
    summary="Approved placements of an episode as a hotspot timeline (public, cacheable)",
    responses={
        200: {"model": TimelineV1, "description": "The timeline (stored bytes, with a strong ETag)"},
        304: {"description": "Not modified"},
    },
)
def get_timeline(
    episode_id: uuid.UUID, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    row = session.exec(
        select(Episode.timeline_json, Episode.timeline_etag).where(Episode.id == episode_id)
    ).first()
    if row is None or not row[0]:
        raise NotFound("episode")
    body, etag = row
    headers = {
        "ETag": etag,
        # Players revalidate cheaply; a review approval shows up within max-age at worst.
        "Cache-Control": f"public, max-age={settings.timeline_max_age_s}, must-revalidate",
        # No Vary here: CORSMiddleware adds `Vary: Origin` to every answer, GZip `Accept-Encoding`.
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
