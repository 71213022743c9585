"""Catalog sync from a connected provider (brand key). Runs in the request for now; returns the report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.brands.models import CheckoutProviderName
from api.brands.service import get_brand
from api.catalog.sync import catalog_source, run_sync
from api.catalog.sync_schemas import SyncReportPublic
from api.checkout.dependencies import CommerceDep
from api.commerce_config import token_cipher
from api.deps import BrandIdDep, SessionDep, SettingsDep
from api.linking.link_jobs import queue_index_refresh

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


@router.post(
    "/sync/{provider}",
    response_model=SyncReportPublic,
    responses={409: {"description": "provider not connected"}, 502: {"description": "provider failed"}},
)
def sync_provider_catalog(
    provider: CheckoutProviderName,
    request: Request,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
    commerce: CommerceDep,
    full: Annotated[
        bool, Query(description="Read everything and remove what the provider no longer has")
    ] = False,
) -> SyncReportPublic:
    brand = get_brand(session, brand_id)
    # A provider failure half-way answers 502 and rolls the half-read catalog back whole (the session
    # closes uncommitted).
    source = catalog_source(brand, provider, commerce, token_cipher(commerce))
    report = run_sync(session, brand, source, settings, full=full)
    session.commit()
    if report.created or report.updated or report.removed:
        queue_index_refresh(session, request.app.state.job_queue, brand_id)
    return SyncReportPublic.from_report(report)
