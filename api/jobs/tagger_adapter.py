"""Adapts the vision pipeline (`tagger.pipeline.tag_video`) to the job executor's `TagFunction`."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Protocol

from api.jobs.models import JobPhase
from api.jobs.tagging import PlacementDraft, ProgressCallback, TagOutcome
from api.linking.service import BrandLinker, BrandLinkerSource, outcome
from api.review.models import PlacementStatus
from api.settings import ApiSettings
from tagger.detection.backend import Detector
from tagger.detection.factory import load_detector, load_detector_card
from tagger.detection.merged import MergedDetector
from tagger.exceptions import ModelError
from tagger.linking import LinkingError
from tagger.pipeline import tag_video
from tagger.placements import Placement
from tagger.settings import TaggerSettings

log = logging.getLogger("reelcart.jobs")

# Shares of a tag job's progress bar, in order (the rest, to 0.99, is storing). With a catalog, each
# shot's placements are linked beside the detection of the next shots (`tagger.link_queue`), so the
# detection part of the bar carries most of the linking too; the link part is the wait for the
# links still running when detection ends (on 2 cores, 1-4 % of the job: BENCHMARKS.md, End to end).
# Without a catalog, detection has it all.
INDEX_SHARE = 0.05
DETECT_SHARE_WHEN_LINKING = 0.85
# Where the tag function's work ends on the bar (linking's end, or detection's without a catalog).
WORK_END = 0.98


class CatalogLinking(BrandLinkerSource, Protocol):
    """What tagging needs of linking (`LinkingService`; tests pass fakes): the brand's URL-only images
    fetched, then its linker over an up-to-date index."""

    def fetch_pending_images(self, brand_id: uuid.UUID) -> object: ...


class BrandDetectors(Protocol):
    """Which trained detector a brand's tag jobs use (`api.detectors.service.BrandDetectorCards`)."""

    def newest_card(self, brand_id: uuid.UUID) -> Path | None: ...


class PipelineTagFunction:
    """Runs the real pipeline with the brand's linker: `tag_video` links each placement's best crops.

    Placements whose link passes the brand's auto-approve threshold come back approved; the rest are
    proposed for review. Without a linker (no embedder model, no catalog images) they stay unlinked.

    The detector (an ONNX Runtime session) is loaded on the first job and shared by later ones:
    a session is safe to run from several threads, and loading it costs more than a short episode.
    A brand with a trained detector has it run beside the general one (`MergedDetector`: one set of
    proposals); it is loaded once per card, and a model that fails its sha256 is refused and the job
    goes on with the general detector alone.
    """

    def __init__(
        self,
        settings: ApiSettings,
        tagger_settings: TaggerSettings | None = None,
        *,
        linking: CatalogLinking | None = None,
        detector: Detector | None = None,
        brand_detectors: BrandDetectors | None = None,
    ) -> None:
        self._tagger_settings = tagger_settings or TaggerSettings(model_dir=settings.model_dir)
        self._linking = linking
        self._detector = detector
        self._brand_detectors = brand_detectors
        self._trained: dict[Path, Detector] = {}
        self._lock = threading.Lock()

    def _brand_detector(self, brand_id: uuid.UUID) -> Detector:
        general = self._shared_detector()
        card = self._brand_detectors.newest_card(brand_id) if self._brand_detectors is not None else None
        if card is None:
            return general
        with self._lock:
            trained = self._trained.get(card)
            if trained is None:
                try:
                    trained = load_detector_card(card, self._tagger_settings)
                except ModelError as error:
                    log.warning("the brand's trained detector is refused; general detector only: %s", error)
                    return general
                self._trained[card] = trained
        return MergedDetector(general, trained, overlap_iou=self._tagger_settings.nms_iou_threshold)

    def _shared_detector(self) -> Detector:
        with self._lock:
            if self._detector is None:
                self._detector = load_detector(self._tagger_settings)
            return self._detector

    def __call__(
        self, media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
    ) -> TagOutcome:
        # The catalog first: its images are fetched and indexed before the video's work, so a job that
        # cannot link says so from the start, and the progress bar knows whether linking follows.
        progress(0.0, JobPhase.INDEX)
        started = time.perf_counter()
        brand, unlinked_reason = self._brand_linker(brand_id, progress)
        index_s = time.perf_counter() - started
        detect_start = INDEX_SHARE
        detect_end = detect_start + DETECT_SHARE_WHEN_LINKING if brand else WORK_END
        progress(detect_start, JobPhase.DETECT)

        def linking(done: int, total: int) -> None:
            if done == 1:
                progress(detect_end, JobPhase.LINK)
            progress(detect_end + (WORK_END - detect_end) * done / total)

        result = tag_video(
            media_path,
            settings=self._tagger_settings,
            thumbnails_dir=thumbnails_dir,
            progress=lambda done: progress(detect_start + done * (detect_end - detect_start)),
            detector=self._brand_detector(brand_id),
            linker=brand.linker if brand is not None else None,
            thresholds=brand.thresholds if brand is not None else None,
            link_progress=linking,
        )
        drafts = [placement_draft(placement, brand) for placement in result.placements]
        timing = result.timing
        seconds = {
            "index": index_s,
            "decode": timing.decode_s,
            "detect": timing.detect_s,
            "track": timing.track_s,
            "locate": timing.locate_s,
            "link": timing.link_s,
            "tag_total": timing.total_s - timing.link_s,
        }
        return TagOutcome(
            drafts,
            empty_reason=result.empty_reason,
            unlinked_reason=unlinked_reason if drafts else None,
            seconds={name: round(value, 3) for name, value in seconds.items()},
            unexplained=result.funnel.unexplained,
            shots=[(shot.start_ms, shot.end_ms) for shot in result.shots],
        )

    def _brand_linker(
        self, brand_id: uuid.UUID, progress: ProgressCallback
    ) -> tuple[BrandLinker | None, str | None]:
        """The brand's linker, or None and why not."""
        if self._linking is None:
            return None, "linking is not configured on this server"
        try:
            self._linking.fetch_pending_images(brand_id)
            brand = self._linking.brand_linker(
                brand_id, on_progress=lambda done, total: progress(INDEX_SHARE * done / max(total, 1))
            )
        except (ModelError, LinkingError) as error:
            # A missing part of the linker (the embedder's weights, the `ocr` extra) or a catalog it
            # cannot index: the placements are still worth reviewing, and the job says why they are unlinked.
            log.warning("placements stay unlinked: %s", error)
            return None, str(error)
        if brand is None:
            return None, "the brand's catalog has no product image to link against"
        return brand, None


def placement_draft(placement: Placement, brand: BrandLinker | None = None) -> PlacementDraft:
    """The database's shape of a placement; its link (made inside `tag_video`) read for `brand`'s
    catalog (SKUs are the brand's product ids)."""
    linked = outcome(placement.link, brand) if brand is not None and placement.link is not None else None
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
        link_evidence=linked.evidence if linked else None,
        link_contradicted=linked.contradicted if linked else False,
        link_approval_level=linked.approval_level if linked else None,
        link_inputs=linked.inputs if linked else None,
    )
