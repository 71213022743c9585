"""Bodies for catalog sync from a provider."""

from __future__ import annotations

from pydantic import BaseModel

from api.brands.models import CheckoutProviderName
from commerce.catalog import SyncReport


class SyncFailure(BaseModel):
    provider_id: str
    reason: str


class SyncReportPublic(BaseModel):
    provider: CheckoutProviderName
    full: bool
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    failed: list[SyncFailure]
    seen: int

    @classmethod
    def from_report(cls, report: SyncReport) -> SyncReportPublic:
        return cls(
            provider=CheckoutProviderName(report.provider),
            full=report.full,
            created=list(report.created),
            updated=list(report.updated),
            unchanged=list(report.unchanged),
            removed=list(report.removed),
            failed=[SyncFailure(provider_id=item.provider_id, reason=item.reason) for item in report.failed],
            seen=report.seen,
        )
