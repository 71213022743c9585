"""Adapts the vision pipeline (`tagger.pipeline.tag_video`) to the job executor's `TagFunction`."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from api.jobs.tagging import PlacementDraft, ProgressCallback
from api.linking.service import BrandLinker, LinkingService, outcome
from api.review.models import PlacementStatus
from api.settings import ApiSettings
from tagger.detection.backend import Detector
from tagger.detection.factory import load_detector
from tagger.exceptions import ModelError
from tagger.linking import CatalogIndexError
from tagger.pipeline import tag_video
from tagger.placements import Placement
from tagger.settings import TaggerSettings

log = logging.getLogger("reelcart.jobs")


class PipelineTagFunction:
    """Runs the real pipeline, then links each placement's best crops against the brand's catalog.

    Placements whose link passes the brand's auto-approve threshold come back approved; the rest are
    proposed for review. Without a linker (no embedder model, no catalog images) they stay unlinked.

    The detector (an ONNX Runtime session) is loaded on the first job and shared by later ones:
    a session is safe to run from several threads, and loading it costs more than a short episode.
    """

    def __init__(
        self,
        settings: ApiSettings,
        tagger_settings: TaggerSettings | None = None,
        *,
        linking: LinkingService | None = None,
    ) -> None:
        self._tagger_settings = tagger_settings or TaggerSettings(model_dir=settings.model_dir)
        self._linking = linking
        self._detector: Detector | None = None
        self._lock = threading.Lock()

    def _shared_detector(self) -> Detector:
        with self._lock:
            if self._detector is None:
                self._detector = load_detector(self._tagger_settings)
            return self._detector

    def __call__(
        self, media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
    ) -> Sequence[PlacementDraft]:
        result = tag_video(
            media_path,
            settings=self._tagger_settings,
            thumbnails_dir=thumbnails_dir,
            progress=progress,
            detector=self._shared_detector(),
        )
        brand = self._brand_linker(brand_id)
        return [placement_draft(placement, brand) for placement in result.placements]

    def _brand_linker(self, brand_id: uuid.UUID) -> BrandLinker | None:
        if self._linking is None:
            return None
        try:
            self._linking.fetch_pending_images(brand_id)
            return self._linking.brand_linker(brand_id)
        except (ModelError, CatalogIndexError) as error:
            log.warning("placements stay unlinked: %s", error)
            return None


def placement_draft(placement: Placement, brand: BrandLinker | None = None) -> PlacementDraft:
    linked = outcome(brand.linker.link_track(placement.crops, brand.thresholds), brand) if brand else None
    return PlacementDraft(
        start_ms=placement.start_ms,
        end_ms=placement.end_ms,
        start_frame=placement.start_frame,
        end_frame=placement.end_frame,
        label=placement.label,
        confidence=round(float(placement.confidence), 4),
        keyframes=[
            {"t_ms": frame.t_ms, "box": [round(float(v), 5) for v in frame.box]}
            for frame in placement.keyframes
        ],
        thumbnail_path=str(placement.thumbnail) if placement.thumbnail is not None else None,
        sku_candidates=linked.sku_candidates if linked else [],
        link_confidence=linked.link_confidence if linked else None,
        chosen_product_id=linked.chosen_product_id if linked else None,
        status=linked.status if linked else PlacementStatus.PROPOSED,
        index_version=linked.index_version if linked else None,
    )
