"""SKU linking in the service: a brand's catalog index, and placements linked against it.

The index is rebuilt incrementally before each use (unchanged images are not re-read). Images added
through the API queue an index-only link job; images known only by URL are fetched first (by link
jobs and tag jobs), so a synced Shopify or Stripe catalog is linkable too. One `LinkingService` per process
loads the embedder and OCR models once and keeps each brand's linker for its index version.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import ValidationError
from sqlalchemy import ColumnElement, Engine, String, and_, cast, not_, or_
from sqlmodel import Session, col, select

from api.brands.models import Brand
from api.catalog.models import Product, ProductImage, Variant
from api.catalog.remote_images import FetchReport, fetch_pending_images, image_fetcher, pending_image_filter
from api.catalog.service import has_variant, marks_of, product_for_placement
from api.columns import utcnow
from api.review.models import (
    EVIDENCE_MAX_CHARS,
    Placement,
    PlacementStatus,
    linker_action,
    placement_snapshot,
)
from api.review.schemas import SkuCandidate
from api.settings import ApiSettings
from tagger.crop_store import FileCropStore
from tagger.linking import (
    CatalogItem,
    Decision,
    FeatureExtractor,
    FileIndexStore,
    FusionModel,
    IndexStoreError,
    Linker,
    LinkResult,
    LinkThresholds,
    TrackLinker,
    build_catalog_index,
    load_extractor,
)
from tagger.linking.decision import Decided, DecisionInputs, decided
from tagger.linking.linker import ShortlistConfig, scorer_id
from tagger.linking.own_print import check_boxes

log = logging.getLogger("reelcart.linking")

NO_IMAGES = "the catalog has no product image ReelCart could index; add images first"
# Catalog index versions kept on disk per brand (the current one and the ones before it).
INDEX_VERSIONS_KEPT = 3


@dataclass(frozen=True)
class LinkOutcome:
    """What linking decided for one placement, in the shape the database stores."""

    sku_candidates: list[SkuCandidate]
    link_confidence: float | None
    chosen_product_id: uuid.UUID | None
    status: PlacementStatus
    index_version: str | None
    # Why the link was approved, or why it was not (`LinkResult.evidence`); None when there is none.
    evidence: str | None = None
    contradicted: bool = False
    # The confidence the link needed to be approved (`LinkResult.approval_level`).
    approval_level: float | None = None
    # What the decision weighed (`LinkResult.inputs`, stored form): `Placement.link_inputs`.
    inputs: dict[str, Any] | None = None


@dataclass(frozen=True)
class BrandLinker:
    linker: TrackLinker
    thresholds: LinkThresholds
    variant_of: dict[str, str | None]  # product id → its first available variant id
    index_version: str
    # What scores the linker's links (`Linker.scorer`): stored inputs scored otherwise are linked again.
    scorer: str = ""


IndexProgress = Callable[[int, int], None]


class BrandLinkerSource(Protocol):
    """Where jobs get a brand's linker over its up-to-date index (`LinkingService`; tests pass fakes)."""

    def brand_linker(
        self, brand_id: uuid.UUID, *, on_progress: IndexProgress | None = None
    ) -> BrandLinker | None: ...


# The shortlist every linker of the API links with (`LinkingService`, `current_scorer`).
LINKER_SHORTLIST = ShortlistConfig()


@functools.cache
def current_scorer() -> str:
    """What scores the links `LinkingService` makes (the shipped fusion model, `LINKER_SHORTLIST`),
    without loading the feature models: the linking preview compares stored links with it."""
    return scorer_id(FusionModel.load(), LINKER_SHORTLIST)


def index_folder(settings: ApiSettings, brand_id: uuid.UUID) -> Path:
    """Where link jobs save the brand's catalog index (and the marks check reads it)."""
    return settings.media_dir / "catalog-index" / str(brand_id)


def _has_usable_image(session: Session, *where: ColumnElement[bool]) -> bool:
    """Whether an image matching `where` is one a link job would index: stored, or a URL not yet fetched
    (not one whose fetch failed)."""
    stored = col(ProductImage.path).is_not(None)
    pending = and_(*pending_image_filter())
    return session.exec(select(ProductImage.id).where(*where, or_(stored, pending))).first() is not None


def catalog_has_images(session: Session, brand_id: uuid.UUID) -> bool:
    """Whether a link job would find any image to index: stored ones, or URLs not yet fetched."""
    return _has_usable_image(session, col(ProductImage.brand_id) == brand_id)


class LinkingLevels(Protocol):
    """A brand's linking settings: the brand as stored, or as an update would leave it (a preview)."""

    @property
    def auto_approve_threshold(self) -> float: ...
    @property
    def link_floor(self) -> float: ...
    @property
    def require_print_evidence(self) -> bool: ...
    @property
    def own_print_auto_approve(self) -> float: ...


def brand_thresholds(brand: LinkingLevels) -> LinkThresholds:
    """The brand's linking settings (a floor above the threshold, possible in rows written before the
    API refused it, is read as the threshold)."""
    return LinkThresholds(
        auto_approve=brand.auto_approve_threshold,
        floor=min(brand.link_floor, brand.auto_approve_threshold),
        require_print_evidence=brand.require_print_evidence,
        own_print_approve=brand.own_print_auto_approve,
    )


def catalog_items(session: Session, brand_id: uuid.UUID) -> list[CatalogItem]:
    """One linker entry per product (its id is the linker's key), with the images we hold."""
    # In the order the brand's catalog listed them (ids are random): the index's rows, and so any tie
    # between two equally scored products, are then the same at every import of one catalog.
    products = session.exec(
        select(Product)
        .where(Product.brand_id == brand_id)
        .order_by(col(Product.created_at), col(Product.title), col(Product.id))
    ).all()
    images: dict[uuid.UUID, list[Path]] = {}
    # Where each product's marked image sits among the images we hold: marks on an image that is not
    # held (a URL not fetched yet, one that failed, one since removed) must not fall on another picture.
    marked_at: dict[uuid.UUID, int] = {}
    marked = {product.own_print_image_id: product.id for product in products if product.own_print}
    for image in session.exec(
        select(ProductImage)
        .where(ProductImage.brand_id == brand_id)
        .order_by(col(ProductImage.position), col(ProductImage.created_at))
    ).all():
        if image.path is not None:
            held = images.setdefault(image.product_id, [])
            if marked.get(image.id) == image.product_id:
                marked_at[image.product_id] = len(held)
            held.append(Path(image.path))
    variants: dict[uuid.UUID, list[str]] = {}
    for variant in session.exec(
        select(Variant)
        .where(Variant.brand_id == brand_id)
        .order_by(col(Variant.created_at), col(Variant.sku))
    ).all():
        if _printed_variant_title(variant.title):
            variants.setdefault(variant.product_id, []).append(variant.title)
    return [
        CatalogItem(
            sku=str(product.id),
            title=product.title,
            brand=product.vendor,
            # A product's variant titles are words its packs print ("Apple", "1.5 %"): part of its own
            # text, so a carton naming its variant never reads as another product's name.
            description=" ".join([product.description, *variants.get(product.id, [])]).strip(),
            images=tuple(images.get(product.id, [])),
            own_print=check_boxes(product.own_print),
            own_print_image=marked_at.get(product.id),
        )
        for product in products
    ]


# What a product with one variant calls it (Shopify's "Default Title", the importer's "Default").
_PLACEHOLDER_VARIANT_TITLES = frozenset({"default", "default title"})


def _printed_variant_title(title: str) -> bool:
    return title.strip().casefold() not in _PLACEHOLDER_VARIANT_TITLES


def linker_reads(session: Session, product: Product) -> tuple[object, ...]:
    """What the linker reads of a product besides its images (`catalog_items`): its words, its variant
    names and its own-print marks. A change to it changes how the product's links are decided, so the
    placements the linker decided that name it are linked again (compare before and after an edit)."""
    variant_titles = session.exec(
        select(Variant.title)
        .where(Variant.product_id == product.id)
        .order_by(col(Variant.created_at), col(Variant.sku))
    ).all()
    return (
        product.title,
        product.vendor,
        product.description,
        tuple(title for title in variant_titles if _printed_variant_title(title)),
        marks_of(product),
    )


def _first_variants(session: Session, brand_id: uuid.UUID) -> dict[str, str | None]:
    chosen: dict[str, str | None] = {}
    for variant in session.exec(
        select(Variant)
        .where(Variant.brand_id == brand_id)
        .order_by(col(Variant.available).desc(), col(Variant.sku))
    ).all():
        chosen.setdefault(str(variant.product_id), str(variant.id))
    return chosen


class LinkingService:
    """Per-process linking state; thread-safe, so tag workers and API requests can share it."""

    def __init__(self, engine: Engine, settings: ApiSettings, *, ocr: bool = True) -> None:
        self._engine = engine
        self._settings = settings
        self._ocr = ocr
        self._lock = threading.Lock()
        self._brand_locks: dict[uuid.UUID, threading.Lock] = {}
        self._extractor: FeatureExtractor | None = None
        self._model: FusionModel | None = None
        self._linkers: dict[uuid.UUID, Linker] = {}

    def fetch_pending_images(self, brand_id: uuid.UUID) -> FetchReport:
        """Bring the brand's URL-only catalog images home (see `remote_images`) before indexing."""
        return fetch_pending_images(self._engine, self._settings, brand_id, image_fetcher(self._settings))

    def index_dir(self, brand_id: uuid.UUID) -> Path:
        return index_folder(self._settings, brand_id)

    def _models(self) -> tuple[FeatureExtractor, FusionModel]:
        with self._lock:
            if self._extractor is None or self._model is None:
                self._extractor = load_extractor(self._settings.model_dir, ocr=self._ocr)
                self._model = FusionModel.load()
            return self._extractor, self._model

    def _brand_lock(self, brand_id: uuid.UUID) -> threading.Lock:
        with self._lock:
            return self._brand_locks.setdefault(brand_id, threading.Lock())

    def brand_linker(
        self, brand_id: uuid.UUID, *, on_progress: IndexProgress | None = None
    ) -> BrandLinker | None:
        """The brand's linker over an up-to-date index; None when its catalog has no stored image.
        Indexing holds only this brand's lock: a large first build does not stall other brands."""
        with self._brand_lock(brand_id):
            with Session(self._engine) as session:
                brand = session.get(Brand, brand_id)
                if brand is None:
                    return None
                items = catalog_items(session, brand_id)
                variants = _first_variants(session, brand_id)
                thresholds = brand_thresholds(brand)
            if not any(item.images for item in items):
                return None
            extractor, model = self._models()
            store = FileIndexStore(self.index_dir(brand_id))
            cached = self._linkers.get(brand_id)
            previous = cached.index if cached else _load_current(store)
            # A CatalogIndexError (duplicate SKUs, no image readable) reaches the caller with its reason.
            index = build_catalog_index(items, extractor, previous=previous, on_progress=on_progress)
            if previous is None or previous.version != index.version:
                store.save(index)
                store.prune(keep=INDEX_VERSIONS_KEPT)
                # Read back memory-mapped (see tagger.linking.store): the features just computed
                # would otherwise stay resident, ≈ 2 GB at 10,000 SKUs.
                index = store.load(index.version)
            if cached is None or cached.index.version != index.version:
                cached = Linker(index, extractor, model, LINKER_SHORTLIST)
                self._linkers[brand_id] = cached
            return BrandLinker(cached, thresholds, variants, index.version, cached.scorer)


def _load_current(store: FileIndexStore) -> Any:
    try:
        return store.load()
    except IndexStoreError:
        return None


def outcome(result: LinkResult, brand: BrandLinker) -> LinkOutcome:
    """The linker's answer in the API's terms: its SKUs are the brand's product ids (the index is built
    that way), each candidate gets the product's first available variant."""
    candidates = [
        SkuCandidate(
            product_id=product_id,
            variant_id=_uuid_or_none(brand.variant_of.get(candidate.sku)),
            title=candidate.title,
            confidence=round(candidate.confidence, 4),
        )
        for candidate in result.candidates
        if (product_id := _uuid_or_none(candidate.sku)) is not None
    ]
    approved = result.decision is Decision.APPROVED and result.sku is not None
    return LinkOutcome(
        sku_candidates=candidates,
        link_confidence=round(result.confidence, 4) if candidates else None,
        chosen_product_id=_uuid_or_none(result.sku) if approved else None,
        status=PlacementStatus.APPROVED if approved else PlacementStatus.PROPOSED,
        index_version=result.index_version,
        evidence=stored_evidence(result.evidence),
        contradicted=result.contradicted,
        approval_level=result.approval_level,
        inputs=result.inputs.stored() if result.inputs is not None else None,
    )


@dataclass(frozen=True)
class StoredDecision:
    """A placement's stored link decided again under some thresholds (`stored_decision`)."""

    again: Decided
    inputs: DecisionInputs
    candidates: list[SkuCandidate]  # as stored, best first

    @property
    def approved(self) -> bool:
        return self.again.decision is Decision.APPROVED and bool(self.candidates)


def stored_decision(placement: Placement, thresholds: LinkThresholds, scorer: str) -> StoredDecision | None:
    """The placement's stored link decided again under `thresholds`, exactly as linking its crops again
    against the same index with the linker scoring as `scorer` would decide it
    (`tagger.linking.decision.decided`). None when the stored link cannot say: made before the inputs
    were kept, scored otherwise (another fusion model), candidates the linker did not write, or a level
    that asks for the packshots' opinion it was never given."""
    inputs = DecisionInputs.from_stored(placement.link_inputs)
    # Inputs stored before links named their scorer name none: they are linked again whatever `scorer`.
    if inputs is None or not inputs.scorer or inputs.scorer != scorer:
        return None
    again = decided(inputs, thresholds)
    if again is None:
        return None
    try:
        candidates = [SkuCandidate.model_validate(entry) for entry in placement.sku_candidates]
    except ValidationError:
        return None  # not a list the linker wrote: linking again rewrites it
    return StoredDecision(again, inputs, candidates)


def redecided_outcome(placement: Placement, brand: BrandLinker) -> LinkOutcome | None:
    """The placement's stored link decided again under the brand's thresholds (`stored_decision`): the
    same candidates (each with the product's first available variant now, as `outcome` gives it), a new
    status, level and reason. None when it cannot be: the link was made against another catalog index
    than the brand's current one (the catalog changed since: a product added, edited or deleted), or
    `stored_decision` cannot say. Store it with `relink_placement`."""
    if placement.index_version != brand.index_version:
        return None
    stored = stored_decision(placement, brand.thresholds, brand.scorer)
    if stored is None:
        return None
    candidates = [
        candidate.model_copy(
            update={"variant_id": _uuid_or_none(brand.variant_of.get(str(candidate.product_id)))}
        )
        for candidate in stored.candidates
    ]
    return LinkOutcome(
        sku_candidates=candidates,
        link_confidence=placement.link_confidence,
        chosen_product_id=candidates[0].product_id if stored.approved else None,
        status=PlacementStatus.APPROVED if stored.approved else PlacementStatus.PROPOSED,
        index_version=placement.index_version,
        evidence=stored_evidence(stored.again.evidence),
        contradicted=stored.inputs.contradicted,
        approval_level=stored.again.level,
        inputs=placement.link_inputs,
    )


def stored_evidence(evidence: str) -> str | None:
    """The linker's reason as a placement stores it: None when empty, cut to the column's size."""
    if not evidence:
        return None
    if len(evidence) <= EVIDENCE_MAX_CHARS:
        return evidence
    return evidence[: EVIDENCE_MAX_CHARS - 1] + "…"


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    """A product or variant id from the index; anything else (never written by the API) is dropped."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def read_stored_crops(thumbnail_path: str | None) -> list[np.ndarray]:
    """Re-linking has no frames left in memory: the crops the tagger stored (the thumbnail is their
    reference in the crop store) stand in for the track. Unreadable files are skipped."""
    return FileCropStore.load(Path(thumbnail_path)) if thumbnail_path else []


def linkable(session: Session, product_id: uuid.UUID) -> bool:
    """Whether the product has an image the linker holds or will fetch (not one whose URL failed):
    until it has, no link can name it."""
    return _has_usable_image(session, col(ProductImage.product_id) == product_id)


def indexed_products(session: Session, brand_id: uuid.UUID) -> frozenset[uuid.UUID]:
    """The brand's products with a stored image: the ones a link job's index can see (images known only
    by URL are fetched first; one whose fetch failed is not among them)."""
    rows = session.exec(
        select(ProductImage.product_id)
        .where(col(ProductImage.brand_id) == brand_id, col(ProductImage.path).is_not(None))
        .distinct()
    ).all()
    return frozenset(rows)


def decided_by_linker() -> ColumnElement[bool]:
    """The placements whose decision is the linker's, so a re-link may change it: awaiting review, or
    approved by the linker. A person's approval or rejection is theirs (`Placement.approved_by_linker`
    goes false at their first action), and no re-link overrules it. Nor one a person drew
    (`Placement.drawn_by_hand`): the linker never saw it, and has no crops of it to read."""
    return and_(
        not_(col(Placement.drawn_by_hand)),
        or_(col(Placement.status) == PlacementStatus.PROPOSED, col(Placement.approved_by_linker)),
    )


def placements_naming(
    session: Session, brand_id: uuid.UUID, product_id: uuid.UUID, episode_id: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, str | None]]:
    """(id, thumbnail path), oldest first, of the brand's placements the linker decided (awaiting
    review, or approved by the linker) that have the product among their candidates or that a person
    picked it for: the links a change to the product can decide differently."""
    # The JSON as text names the product's id wherever a candidate does: the database keeps only those
    # rows (and the ones a person picked it for), so a brand's whole backlog is not read for one product;
    # which candidate names it is then read here, the same on SQLite and PostgreSQL.
    where = [col(Placement.brand_id) == brand_id, decided_by_linker()]
    if episode_id is not None:
        where.append(col(Placement.episode_id) == episode_id)
    named = cast(col(Placement.sku_candidates), String).contains(str(product_id))
    rows = session.exec(
        select(Placement.id, Placement.thumbnail_path, Placement.sku_candidates, Placement.chosen_product_id)
        .where(*where, or_(named, col(Placement.chosen_product_id) == product_id))
        .order_by(col(Placement.created_at))
    ).all()
    wanted = str(product_id)
    return [
        (placement_id, path)
        for placement_id, path, candidates, chosen in rows
        if chosen == product_id
        or any(isinstance(entry, dict) and entry.get("product_id") == wanted for entry in candidates or ())
    ]


@dataclass(frozen=True)
class Relinked:
    """A stored re-link, read while its session was open."""

    episode_id: uuid.UUID
    approved: bool  # approved after it, by the machine or by a person
    approved_now: bool  # the new link approved a placement that was awaiting review
    withdrawn: bool = False  # the new link no longer supports the linker's own approval: back in review
    moved: bool = False  # the new link approves the linker's approval as another product


def relink_placement(
    session: Session,
    placement_id: uuid.UUID,
    result: LinkOutcome,
    indexed: Collection[uuid.UUID] | None = None,
    *,
    wait_for_product: bool = True,
) -> Relinked | None:
    """Store a fresh link on a placement, read again under a row lock so a reviewer's decision made
    while the job was linking is never overwritten: candidates always refresh, the status and chosen
    SKU only while the linker owns the decision (`decided_by_linker`): a proposal (unless a person
    picked a product the new link would replace), or the linker's own approval, which the new link
    keeps, moves to another SKU or withdraws (back in review, off the timeline) exactly as it would
    have decided a proposal. Not when its product is missing from `indexed` (the products with an
    indexed image; None: all): a link that could not see the product (its image URL failed to fetch,
    its images were replaced) is no evidence against it. None: the placement is gone (a re-tag
    replaced it). A product deleted since the job built its index is approved as nothing: the placement
    waits for review (`wait_for_product`: a deletion under way is waited for; a batch, which holds other
    placements, gets lock_not_available instead)."""
    locked_first: uuid.UUID | None = None
    if wait_for_product and result.chosen_product_id is not None:
        # A product the placement does not show yet is locked before the placement, as every writer takes
        # them (a deletion holds its product and then waits for the placements that chose it). One it
        # shows is not: a deletion of it may be waiting for this placement, held by our caller already.
        shown = session.exec(
            select(Placement.brand_id, Placement.chosen_product_id).where(Placement.id == placement_id)
        ).first()
        if shown is None:
            return None
        if result.chosen_product_id != shown[1]:
            if product_for_placement(session, shown[0], result.chosen_product_id) is None:
                result = _without_product(result)
            else:
                locked_first = result.chosen_product_id
    placement = session.exec(select(Placement).where(Placement.id == placement_id).with_for_update()).first()
    if placement is None:
        return None

    def sellable(outcome: LinkOutcome) -> LinkOutcome:
        # Asked where the outcome's product is about to be written on the placement, unless it is the one
        # it shows (a deletion waits for the placement) or was locked above. A batch (`wait_for_product`
        # False) holds other placements already: it asks without waiting.
        chosen = outcome.chosen_product_id
        if chosen is None:
            return outcome
        if chosen not in (placement.chosen_product_id, locked_first):
            found = product_for_placement(session, placement.brand_id, chosen, nowait=not wait_for_product)
            if found is None:
                return _without_product(outcome)
        # A product with nothing to buy is never approved (its hotspot would sell nothing): for review.
        return outcome if has_variant(session, chosen) else _without_product(outcome)

    before = placement_snapshot(placement)
    placement.sku_candidates = [candidate.stored() for candidate in result.sku_candidates]
    placement.link_confidence = result.link_confidence
    placement.link_evidence = result.evidence
    placement.link_contradicted = result.contradicted
    placement.link_approval_level = result.approval_level
    placement.link_inputs = result.inputs
    placement.index_version = result.index_version
    # A product a person picked for a placement still awaiting review (`chosen_product_id` on a proposed
    # placement is only ever theirs: the linker sets it only when it approves) is never swapped for
    # another: the linker may approve it only as that product.
    picked = placement.chosen_product_id
    if placement.status == PlacementStatus.APPROVED and placement.approved_by_linker:
        if indexed is not None and picked not in indexed:
            return _stored(session, placement, Relinked(placement.episode_id, True, False))
        # The linker's own product: the new link decides it as it would a proposal.
        result = sellable(result)
        placement.status = result.status
        placement.chosen_product_id = result.chosen_product_id
        withdrawn = placement.status != PlacementStatus.APPROVED
        placement.approved_by_linker = not withdrawn
        moved = not withdrawn and placement.chosen_product_id != picked
        if withdrawn or moved:
            session.add(linker_action(placement, "withdraw" if withdrawn else "move", before))
        changed = Relinked(placement.episode_id, not withdrawn, False, withdrawn, moved)
        return _stored(session, placement, changed)
    overrules_pick = picked is not None and result.chosen_product_id not in (None, picked)
    if placement.status != PlacementStatus.PROPOSED or overrules_pick:
        # A person's decision (an approval, a rejection, a pick the new link would replace): only the
        # candidates refresh.
        return _stored(session, placement, Relinked(placement.episode_id, _approved(placement), False))
    result = sellable(result)
    placement.status = result.status
    placement.chosen_product_id = result.chosen_product_id or picked
    approved_now = placement.status == PlacementStatus.APPROVED
    # Approving a product a person picked publishes their choice: it stays theirs, and no later re-link
    # withdraws it or gives it to another product.
    placement.approved_by_linker = approved_now and picked is None
    if approved_now:
        session.add(linker_action(placement, "approve", before))
    return _stored(session, placement, Relinked(placement.episode_id, approved_now, approved_now))


def _without_product(outcome: LinkOutcome) -> LinkOutcome:
    """A link whose product was deleted after the job built its index: nothing to approve the placement
    as (its deletion queued the re-link of the placements that name it)."""
    return replace(outcome, chosen_product_id=None, status=PlacementStatus.PROPOSED)


def _approved(placement: Placement) -> bool:
    return placement.status == PlacementStatus.APPROVED


def _stored(session: Session, placement: Placement, relinked: Relinked) -> Relinked:
    placement.version += 1
    placement.updated_at = utcnow()
    session.add(placement)
    return relinked
