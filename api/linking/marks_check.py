"""Checking a product's own-print marks against the brand's catalog index, for the marks editor: do the
boxes hold enough print to confirm the product, and does another product print what they hold
(`tagger.linking.own_print_check`)?

The check reads the index the last link or tag job saved (memory-mapped, a few kept per process); it
never builds one inside a request. An image the index does not hold yet (just uploaded, or a URL not
fetched) cannot be checked: the answer says so, and the caller queues the index-only link job that
adds it.

It also checks the marks against the brand's footage (`tagger.linking.own_print_footage`): the crops of
the newest placements approved as another product with this one among their candidates, the siblings
the linker weighed against it, as the camera saw their packs. Their keypoints matched on the marked
image do not depend on the boxes, so they are kept per process while the brand redraws. And against
the newest placements approved as the product itself: a box on print its pack as sold lacks (a
packshot of another edition) would keep every link of it from approval.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from api.catalog.models import Product, ProductImage
from api.catalog.schemas import (
    FootagePrintPublic,
    OwnFootagePublic,
    OwnPrintCheckPublic,
    OwnPrintSuggestionPublic,
    SharedPrintPublic,
)
from api.catalog.service import first_image_id, is_image_of
from api.episodes.models import Episode
from api.errors import InvalidInput
from api.linking.exceptions import MarksNotCheckable
from api.linking.service import index_folder
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from tagger.arrays import FloatArray
from tagger.crop_store import FileCropStore
from tagger.linking import CatalogIndex, FileIndexStore, IndexStoreError
from tagger.linking.linker import OWN_PRINT_CONFIRMING_INLIERS, OWN_PRINT_INLIERS
from tagger.linking.own_print import Box, OwnPrintError, check_boxes
from tagger.linking.own_print_check import (
    MarksOnSceneError,
    OwnPrintCheckError,
    check_own_print,
    others_print_on,
)
from tagger.linking.own_print_footage import (
    footage_inside_marks,
    matched_on_marked_image,
    own_footage_against_marks,
)
from tagger.linking.own_print_suggest import suggest_marks

K = TypeVar("K")
V = TypeVar("V")

# Loaded indexes kept per process (brands checking marks at once); each maps its arrays from disk.
INDEXES_KEPT = 4
# Placements of the footage compared per check, and how many of the newest approved ones are looked
# through for those that had this product among their candidates. Each is a SIFT extraction and a
# verification per stored crop (about 50 ms) the first time, kept after.
FOOTAGE_PLACEMENTS = 8
FOOTAGE_SCANNED = 500
# Placements' matched keypoints kept per process (a few brands redrawing marks at once).
FOOTAGE_KEPT = 256


class _Kept(Generic[K, V]):
    """The last `limit` values used, by key, shared by a process's request threads."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._kept: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        with self._lock:
            if key not in self._kept:
                return None
            self._kept.move_to_end(key)
            return self._kept[key]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._kept[key] = value
            while len(self._kept) > self._limit:
                self._kept.popitem(last=False)


# The last few brand indexes this process loaded, by folder and version.
_INDEXES: _Kept[tuple[Path, str], CatalogIndex] = _Kept(INDEXES_KEPT)
# Each placement's crops' keypoints matched on a marked image, by crops, index and image: what the
# boxes do not change, computed once while a brand redraws them.
_FOOTAGE: _Kept[tuple[str, str, str], tuple[FloatArray, ...]] = _Kept(FOOTAGE_KEPT)


def _current_index(folder: Path) -> CatalogIndex | None:
    """The index the brand's last link or tag job saved in `folder` (None when there is none)."""
    try:
        version = (folder / "CURRENT").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    index = _INDEXES.get((folder, version))
    if index is None:
        try:
            index = FileIndexStore(folder).load(version)
        except IndexStoreError:
            return None
        _INDEXES.put((folder, version), index)
    return index


def _footage_matched(index: CatalogIndex, digest: str, thumbnail: Path) -> tuple[FloatArray, ...]:
    """A placement's crops (stored beside `thumbnail`) matched on the marked image `digest`."""
    key = (str(thumbnail), index.version, digest)
    matched = _FOOTAGE.get(key)
    if matched is None:
        # Crops that cannot be read (a media volume not mounted yet) are skipped by the store, and such
        # an answer is not kept: the next check reads them again. (Two checks at once may both compute
        # a placement; the answer is the same.)
        crops = FileCropStore.load(thumbnail)
        matched = matched_on_marked_image(index, digest, crops)
        if crops:
            _FOOTAGE.put(key, matched)
    return matched


def check_product_marks(
    session: Session,
    settings: ApiSettings,
    product: Product,
    boxes: Sequence[Sequence[float]] | None,
    image_id: uuid.UUID | None,
) -> OwnPrintCheckPublic:
    """Check `boxes` on the product's image `image_id` (omitted: its stored marks, on their image, else
    its first image). Refuses with 422 what cannot be marks, 409 (`MarksNotCheckable`) what the index
    cannot check yet."""
    marks = [list(box) for box in (boxes if boxes is not None else product.own_print)]
    if not marks:
        raise InvalidInput(
            "own_print: no boxes to check: draw some, or send them",
            errors=[{"field": "own_print", "message": "no boxes to check"}],
        )
    image, digest, index = _marked_image(session, settings, product, image_id)
    return _checked(
        session,
        product,
        marks,
        image,
        digest,
        index,
        _footage(session, product),
        _own_footage(session, product),
    )


def _checked(
    session: Session,
    product: Product,
    marks: Sequence[Sequence[float]],
    image: ProductImage,
    digest: str,
    index: CatalogIndex,
    footage: Sequence[_Shown],
    own: Sequence[_Shown],
) -> OwnPrintCheckPublic:
    """`check_product_marks` once its image, index and the placements to compare are loaded."""
    with _refusals():
        check = check_own_print(index, str(product.id), digest, marks)
    titles = _titles(
        session,
        product.brand_id,
        [uuid.UUID(other.sku) for other in check.shared] + [row.product_id for row in footage],
    )
    # A product deleted since the index was built is not named (its id would be a 404).
    check = replace(check, shared=tuple(other for other in check.shared if uuid.UUID(other.sku) in titles))
    boxes_checked = check_boxes(marks)
    found, footage_compared = _footage_found(session, footage, titles, boxes_checked, index, digest)
    own_found = _own_footage_found(session, own, boxes_checked, index, digest)
    problems = (
        check.problems(lambda other: titles[uuid.UUID(other.sku)])
        + [
            f"placement {item.placement_id} of the episode “{episode}”, approved as {item.title}, matches "
            f"{item.keypoints} keypoints inside them: that pack as your footage shows it prints what they "
            "hold, so it would count as this product; shrink or move those boxes off it"
            for item, episode in found
        ]
        + [
            f"placement {item.placement_id} of the episode “{episode}”, approved as this product, matches "
            f"its print ({item.matched} keypoints) but only {item.keypoints} inside them (needs "
            f"{OWN_PRINT_INLIERS}): this pack as your footage shows it lacks what they hold, so its links "
            "are never approved automatically; draw them on print it shows (its matches are drawn)"
            for item, episode in own_found
            if item.misses_marks
        ]
    )
    return OwnPrintCheckPublic(
        image_id=image.id,
        index_version=index.version,
        keypoints=list(check.keypoints),
        confirming_keypoints=OWN_PRINT_CONFIRMING_INLIERS,
        can_confirm=check.can_confirm,
        shared_bar=OWN_PRINT_INLIERS,
        shared=[
            SharedPrintPublic(
                product_id=uuid.UUID(other.sku),
                title=titles[uuid.UUID(other.sku)],
                keypoints=other.inliers,
                per_box=list(other.per_box),
                points=list(other.points),
            )
            for other in check.shared
        ],
        compared=check.compared,
        footage=[item for item, _ in found],
        footage_compared=footage_compared,
        own_footage=[item for item, _ in own_found],
        ok=check.ok and not found and not any(item.misses_marks for item, _ in own_found),
        problems=problems,
    )


def suggest_product_marks(
    session: Session, settings: ApiSettings, product: Product, image_id: uuid.UUID | None
) -> OwnPrintSuggestionPublic:
    """Boxes on the product's image `image_id` (omitted: its marks' image, else its first) where its
    newest approved placements match and no other product does (`tagger.linking.own_print_suggest`),
    checked as `check_product_marks` checks them. Nothing is saved. Refuses as the check does: 422 for a
    scene, 409 (`MarksNotCheckable`) when the index cannot answer yet."""
    image, digest, index = _marked_image(session, settings, product, image_id)
    with _refusals():
        elsewhere = others_print_on(index, str(product.id), digest)
    own_placements, others = _own_footage(session, product), _footage(session, product)
    own = [
        matched
        for placement in own_placements
        if (matched := _footage_matched(index, digest, placement.thumbnail))
    ]
    siblings = [crop for placement in others for crop in _footage_matched(index, digest, placement.thumbnail)]
    marked = index.image_features[digest]
    suggestion = suggest_marks(marked.size, marked.local.points, own, [*elsewhere, *siblings])
    check = (
        _checked(session, product, suggestion.boxes, image, digest, index, others, own_placements)
        if suggestion.boxes
        else None
    )
    return OwnPrintSuggestionPublic(
        image_id=image.id,
        boxes=list(suggestion.boxes),
        reason=suggestion.reason,
        placements_compared=len(own),
        own_inside=list(suggestion.own_inside),
        foreign_inside=suggestion.foreign_inside,
        check=check,
    )


def _marked_image(
    session: Session, settings: ApiSettings, product: Product, image_id: uuid.UUID | None
) -> tuple[ProductImage, str, CatalogIndex]:
    """The image marks are (to be) drawn on, as the index knows it (its digest), and the brand's index;
    409 (`MarksNotCheckable`) when there is no index yet."""
    image = _image(session, product, image_id)
    digest = _digest(image)
    index = _current_index(index_folder(settings, product.brand_id))
    if index is None:
        raise MarksNotCheckable(
            "the catalog has no index yet: it is built by the next link job (one is queued now); "
            "check again when it is done"
        )
    return image, digest, index


@contextmanager
def _refusals() -> Iterator[None]:
    """The tagger's refusals of marks as the API answers them: 422 for marks on a scene or boxes that
    cannot be, 409 (`MarksNotCheckable`) for an image the index does not hold yet."""
    try:
        yield
    except MarksOnSceneError as error:
        raise InvalidInput(
            f"own_print_image_id: {error}", errors=[{"field": "own_print_image_id", "message": str(error)}]
        ) from error
    except OwnPrintCheckError as error:
        raise MarksNotCheckable(f"{error}; an index-only link job is queued now") from error
    except OwnPrintError as error:
        raise InvalidInput(
            f"own_print: {error}", errors=[{"field": "own_print", "message": str(error)}]
        ) from error


@dataclass(frozen=True, slots=True)
class _Shown:
    """A placement approved as another product: the columns the footage check reads."""

    id: uuid.UUID
    episode_id: uuid.UUID
    product_id: uuid.UUID
    thumbnail: Path


def _footage(session: Session, product: Product) -> list[_Shown]:
    """The placements to compare: the newest approved as another product with this one among their
    candidates."""
    wanted = str(product.id)
    return [
        placement
        for placement, candidates in _approved(
            session, product, col(Placement.chosen_product_id) != product.id
        )
        if any(isinstance(entry, dict) and entry.get("product_id") == wanted for entry in candidates or [])
    ][:FOOTAGE_PLACEMENTS]


def _own_footage(session: Session, product: Product) -> list[_Shown]:
    """The newest placements approved as the product itself."""
    # Every row the query returns is one of them: no more are read than are compared.
    own = _approved(session, product, col(Placement.chosen_product_id) == product.id, FOOTAGE_PLACEMENTS)
    return [placement for placement, _ in own][:FOOTAGE_PLACEMENTS]


def _approved(
    session: Session, product: Product, chosen: Any, limit: int = FOOTAGE_SCANNED
) -> list[tuple[_Shown, Any]]:
    """The newest `limit` approved placements of the product's brand with a stored crop and a chosen
    product matching `chosen`, each with its candidates."""
    # (SQLAlchemy's select: sqlmodel's is typed for at most four columns.)
    recent = session.execute(
        sa_select(
            col(Placement.id),
            col(Placement.episode_id),
            col(Placement.chosen_product_id),
            col(Placement.thumbnail_path),
            col(Placement.sku_candidates),
        )
        .where(
            col(Placement.brand_id) == product.brand_id,
            col(Placement.status) == PlacementStatus.APPROVED,
            col(Placement.chosen_product_id).is_not(None),
            chosen,
            col(Placement.thumbnail_path).is_not(None),
        )
        .order_by(col(Placement.updated_at).desc(), col(Placement.id))
        .limit(limit)
    ).all()
    return [
        (_Shown(placement_id, episode_id, shown, Path(thumbnail)), candidates)
        for placement_id, episode_id, shown, thumbnail, candidates in recent
        if shown is not None and thumbnail
    ]


def _footage_found(
    session: Session,
    placements: Sequence[_Shown],
    titles: dict[uuid.UUID, str],
    boxes: Sequence[Box],
    index: CatalogIndex,
    digest: str,
) -> tuple[list[tuple[FootagePrintPublic, str]], int]:
    """The placements whose crops match the marks' bar inside the boxes, with their episodes' titles,
    and how many placements were compared (those whose crops could be read, of a product still in the
    catalog)."""
    compared: dict[str, tuple[_Shown, tuple[FloatArray, ...]]] = {}
    for placement in placements:
        if placement.product_id in titles and (
            matched := _footage_matched(index, digest, placement.thumbnail)
        ):
            compared[str(placement.id)] = (placement, matched)
    printed = footage_inside_marks(
        index.image_features[digest].size, boxes, [(key, matched) for key, (_, matched) in compared.items()]
    )
    shown = [(compared[item.key][0], item) for item in printed]
    episodes = _episode_titles(session, {placement.episode_id for placement, _ in shown})
    found = [
        (
            FootagePrintPublic(
                placement_id=placement.id,
                episode_id=placement.episode_id,
                product_id=placement.product_id,
                title=titles[placement.product_id],
                keypoints=item.inliers,
                per_box=list(item.per_box),
                points=list(item.points),
            ),
            episodes.get(placement.episode_id, ""),
        )
        for placement, item in shown
    ]
    return found, len(compared)


def _own_footage_found(
    session: Session, placements: Sequence[_Shown], boxes: Sequence[Box], index: CatalogIndex, digest: str
) -> list[tuple[OwnFootagePublic, str]]:
    """The product's own placements (those whose crops could be read) against the boxes, with their
    episodes' titles: those that miss the marks first."""
    compared = {
        str(placement.id): (placement, matched)
        for placement in placements
        if (matched := _footage_matched(index, digest, placement.thumbnail))
    }
    judged = own_footage_against_marks(
        index.image_features[digest].size, boxes, [(key, matched) for key, (_, matched) in compared.items()]
    )
    episodes = _episode_titles(session, {placement.episode_id for placement, _ in compared.values()})
    return [
        (
            OwnFootagePublic(
                placement_id=compared[item.key][0].id,
                episode_id=compared[item.key][0].episode_id,
                keypoints=item.inliers,
                per_box=list(item.per_box),
                matched=item.matched,
                misses_marks=item.misses_marks,
                points=list(item.points),
            ),
            episodes.get(compared[item.key][0].episode_id, ""),
        )
        for item in judged
    ]


def _episode_titles(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(session.exec(select(Episode.id, Episode.title).where(col(Episode.id).in_(ids))).all())


def _image(session: Session, product: Product, image_id: uuid.UUID | None) -> ProductImage:
    """The image named, else the stored marks' (while it is still the product's), else the first: as a
    PATCH would place the boxes."""
    chosen = image_id
    if chosen is None:
        kept = is_image_of(session, product, product.own_print_image_id)
        chosen = product.own_print_image_id if kept else first_image_id(session, product.id)
    image = session.get(ProductImage, chosen) if chosen is not None else None
    if image is None or image.product_id != product.id:
        if chosen is None:
            message = "this product has no image to mark yet: add its packshot first"
        else:
            message = "not an image of this product (see its `images`)"
        raise InvalidInput(
            f"own_print_image_id: {message}", errors=[{"field": "own_print_image_id", "message": message}]
        )
    return image


def _digest(image: ProductImage) -> str:
    """The image as the index knows it: the sha256 of the file we hold (`tagger.linking.catalog`), as
    the upload or fetch that stored it recorded it; rows without one (written before it was kept) are
    hashed here."""
    if image.path is None:
        raise MarksNotCheckable(
            "this image is known only by its URL so far: it is fetched and indexed by the next link job "
            "(queued now); check again when it is done"
        )
    if image.sha256:
        return image.sha256
    try:
        return hashlib.sha256(Path(image.path).read_bytes()).hexdigest()
    except OSError as error:
        raise MarksNotCheckable(
            "this image's file cannot be read; upload it again, then check the marks"
        ) from error


def _titles(session: Session, brand_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Products' titles as the catalog has them now (the index keeps the ones it was built with)."""
    if not ids:
        return {}
    rows = session.exec(
        select(Product.id, Product.title).where(Product.brand_id == brand_id, col(Product.id).in_(ids))
    ).all()
    return dict(rows)
