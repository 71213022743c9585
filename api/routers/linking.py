"""Re-linking placements against the current catalog, without re-running detection."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.deps import BrandIdDep, SessionDep, SettingsDep
from api.problems import Problem
from api.services.episodes import get_episode
from api.services.linking import LinkingService, relink
from tagger.exceptions import ModelError
from tagger.linking import CatalogError

router = APIRouter(prefix="/v1", tags=["linking"])


class RelinkResult(BaseModel):
    placements: int
    approved: int
    index_version: str | None


def _relink(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    brand_id: uuid.UUID,
    episode_id: uuid.UUID | None,
) -> RelinkResult:
    linking: LinkingService = request.app.state.linking
    try:
        report = relink(session, linking, settings, brand_id, episode_id)
    except CatalogError as error:
        raise Problem(409, str(error), slug="catalog-not-indexable") from error
    except ModelError as error:
        raise Problem(503, f"linking is unavailable: {error}", slug="linking-unavailable") from error
    session.commit()
    return RelinkResult(
        placements=report.placements, approved=report.approved, index_version=report.index_version
    )


@router.post(
    "/episodes/{episode_id}/link",
    response_model=RelinkResult,
    summary="Re-link an episode's placements against the current catalog (human decisions are kept)",
)
def link_episode(
    episode_id: uuid.UUID, request: Request, brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep
) -> RelinkResult:
    episode = get_episode(session, brand_id, episode_id)
    return _relink(request, session, settings, brand_id, episode.id)


@router.post("/link", response_model=RelinkResult, summary="Re-link every placement of the brand")
def link_brand(
    request: Request, brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep
) -> RelinkResult:
    return _relink(request, session, settings, brand_id, None)
