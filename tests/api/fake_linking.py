"""A link job's linker for tests: every track answered with one fixed SKU, and a source that hands it
out (or fails as the real `LinkingService` can)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session

from api.brands.models import Brand
from api.catalog.models import Product
from api.episodes.models import Episode
from api.linking.models import LinkJob
from api.linking.service import BrandLinker, IndexProgress, brand_thresholds, current_scorer
from api.review.models import Placement
from tagger.linking import Decision, LinkResult, LinkThresholds, SkuCandidate
from tagger.linking.decision import DecisionInputs, decided
from tests.api.factories import make_placement

# The reason a `FixedLinker` that keeps its inputs gives: its print was seen.
MATCHED = "crop 1: its print matched (40 keypoints)"
# The catalog index version `FixedLinker` and `FakeSource` report: the catalog as it is now.
FAKE_INDEX = "index-v7"
# What scores its links: the API's linker as shipped (so the linking preview, which compares stored links
# with `current_scorer`, previews them).
FAKE_SCORER = current_scorer()


def crop_file(directory: Path) -> str:
    """A stored crop a re-link can read (a flat grey image), in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.png"
    cv2.imwrite(str(path), np.full((60, 40, 3), 120, np.uint8))
    return str(path)


def linked_placement(
    engine: Engine,
    episode: Episode,
    candidates: list[Product],
    crops: Path,
    start_ms: int,
    confidence: float | None,
    **extra: Any,
) -> Placement:
    """A 3 s placement linked to `candidates` (best first) against `FAKE_INDEX` with a crop to link
    again, keeping what its decision weighed at `confidence` (print seen), as tag jobs store links now;
    `confidence` None: a link made before the inputs were kept. `extra` overrides any column."""
    kept = (
        {}
        if confidence is None
        else {"link_inputs": DecisionInputs(confidence, True, MATCHED, scorer=FAKE_SCORER).stored()}
    )
    return make_placement(
        engine,
        episode,
        start_ms=start_ms,
        end_ms=start_ms + 3000,
        link_confidence=confidence,
        candidates=candidates,
        thumbnail_path=crop_file(crops),
        **(kept | {"index_version": FAKE_INDEX} | extra),
    )


class FixedLinker:
    """Answers every track with the same SKU; `during` runs while "linking" (a reviewer acting then).
    With `keeps_inputs` its answer is decided as the real linker decides, from inputs it returns with
    it (print seen, nothing contradicting); without, it says nothing of them, as a link made before
    they were kept."""

    def __init__(
        self, sku: str, confidence: float, during: Any = None, *, keeps_inputs: bool = False
    ) -> None:
        self.sku, self.confidence, self.during = sku, confidence, during
        self.keeps_inputs = keeps_inputs
        self.crops_seen: list[int] = []

    def link_track(self, crops: Sequence[Any], thresholds: LinkThresholds | None = None) -> LinkResult:
        self.crops_seen.append(len(crops))
        if self.during is not None:
            self.during()
        if self.keeps_inputs:
            inputs = DecisionInputs(self.confidence, True, MATCHED, scorer=FAKE_SCORER)
            again = decided(inputs, thresholds or LinkThresholds())
            assert again is not None
            return LinkResult(
                candidates=(SkuCandidate(self.sku, "Pressed Apple", self.confidence),),
                sku=self.sku,
                confidence=self.confidence,
                unknown_probability=1 - self.confidence,
                decision=again.decision,
                index_version=FAKE_INDEX,
                crops_used=len(crops),
                evidence=again.evidence,
                approval_level=again.level,
                inputs=inputs,
            )
        level = (thresholds or LinkThresholds()).auto_approve
        approved = self.confidence >= level
        return LinkResult(
            candidates=(SkuCandidate(self.sku, "Pressed Apple", self.confidence),),
            sku=self.sku,
            confidence=self.confidence,
            unknown_probability=1 - self.confidence,
            decision=Decision.APPROVED if approved else Decision.PROPOSED,
            index_version=FAKE_INDEX,
            crops_used=len(crops),
            evidence=MATCHED if approved else "",
            approval_level=level,
        )


class FakeSource:
    """A `BrandLinkerSource` with a fixed linker, or one that fails the way the real one can. With
    `engine` the linker gets the brand's stored thresholds, as the real source gives them; without it,
    the defaults."""

    def __init__(
        self, linker: FixedLinker | None = None, error: Exception | None = None, engine: Engine | None = None
    ) -> None:
        self.linker, self.error, self.engine = linker, error, engine

    def brand_linker(
        self, brand_id: uuid.UUID, *, on_progress: IndexProgress | None = None
    ) -> BrandLinker | None:
        if self.error is not None:
            raise self.error
        if self.linker is None:
            return None
        if on_progress is not None:
            on_progress(1, 1)
        thresholds = LinkThresholds()
        if self.engine is not None:
            with Session(self.engine) as session:
                brand = session.get(Brand, brand_id)
                assert brand is not None
                thresholds = brand_thresholds(brand)
        return BrandLinker(self.linker, thresholds, {}, FAKE_INDEX, FAKE_SCORER)


def decide_only_job(engine: Engine, brand_id: uuid.UUID, level: float) -> uuid.UUID:
    """The brand's auto-approve level set to `level`, and the decide-only job that change queues (stored,
    not run)."""
    with Session(engine) as session:
        stored = session.get_one(Brand, brand_id)
        stored.auto_approve_threshold = level
        job = LinkJob(brand_id=brand_id, linker_decided_only=True, decide_only=True)
        session.add_all([stored, job])
        session.commit()
        return job.id
