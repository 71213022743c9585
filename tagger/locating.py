"""Catalog-aware proposals: products found by their print (`tagger.linking.locate`) become tracked
detections of one extra class, "product", beside the general detector's (which go to the tracker).

Finding a print in a whole frame costs ~150 ms on one core, so it runs at a shot's start (and again
now and then while nothing is found: a product may be brought into view); once a product is found it
is followed by looking again, every so often, for the same SKUs only and only around where it was,
which costs a fraction of that (a product not there, carried further than the margin, is searched for
in the whole frame, for its SKU, before its track ends). Each found product is its own track (one per
SKU and shot), not the IoU tracker's: its placement runs from the first look that found it to the
last, its path interpolated between looks, and on to the cut or its next look due when no look saw it
leave (`ShotLocator.held_until`).

A product found after its shot's first look has just come into view, and its shot may end soon: the
next sample looks at it again, so that it gets the second sighting a placement needs in time.

A shot where nothing is followed is searched again as soon as its picture changes (something came
into view); one where products are followed, as soon as the picture changes away from them (a second
product carried in beside the first). That look covers the frame with the followed products blanked
out: beside a held product, a newcomer is compared with its own neighbours by the focus rule, not with
the product in focus, which would drop it as clutter.

A print seen with fewer keypoints than the bar (`LocateConfig.tentative_inliers` up to `min_inliers`)
is held as a candidate, not a product: the next sample's look around it finds it only if it sees the
same SKU at the same place again. A held carton turned from the camera shows little of its print, but
the same little in every frame; on the episode benchmark no packshot reached more than 6 keypoints on
a product-free frame. A product once found is followed at that lower bar (its SKU and place are known).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tagger.arrays import FloatArray, Image
from tagger.detection.postprocess import box_iou
from tagger.detections import Detections
from tagger.keyframes import interpolate_boxes
from tagger.linking.decision import Decision
from tagger.linking.index import CatalogIndex
from tagger.linking.linker import TrackLinker
from tagger.linking.locate import Box, LocateConfig, Located, box_overlap, locate_products
from tagger.placements import Placement
from tagger.settings import TaggerSettings

PRODUCT_CLASS_NAME = "product"


@dataclass(frozen=True, slots=True)
class LocateSchedule:
    """When to look. `retry_ms`: a full look again while a shot has shown nothing (counted from the
    last whole-frame or follow look); `follow_ms`: a look around each found product, for its SKU;
    `margin`: how far around its last box (a fraction of its size on each side) a product may have
    moved between looks."""

    retry_ms: int = 1000
    # Each whole-frame look in a row that sees nothing, not even a candidate, doubles the wait for the
    # next, up to this: a shot that showed nothing for a while most likely shows nothing to sell (a
    # face, a street), and a product brought in changes the picture, which brings a look at once
    # (`change_luma`). On the episode benchmark's plain episodes none of the 74 retries found anything,
    # and they were a third of the whole-frame looks (BENCHMARKS.md, End to end). With `retry_ms` as
    # this, a shot is searched every `retry_ms` as before.
    max_retry_ms: int = 2000
    follow_ms: int = 600
    margin: float = 0.25
    # A shot where nothing is followed is searched again before its retry is due when the picture has
    # changed this much over the last sampling period (mean absolute difference of the tiny luma
    # frames, 0-255, `pipeline.Sample.change`): something came into view, most often a product
    # picked up or carried into the shot, and waiting for the retry would leave it without a hotspot
    # for up to a second. Over 400 ms a slow pan or zoom changed the picture by 11 levels (median;
    # 90th percentile 24), as did the sample videos' people moving, and a product sliding into view by
    # 33 (BENCHMARKS.md, End to end). It only brings a look forward, never skips one: set low, it
    # spends looks on motion.
    change_luma: float = 28.0
    # Where products are followed, the picture away from them (outside their boxes widened by `margin`)
    # must change by `change_luma` for a look for newcomers, over at least this share of the frame; a
    # product filling the frame leaves too little around it to judge.
    min_outside: float = 0.2
    # A followed product holds still when a look finds it less than this share of its size from its
    # previous box. Looks around found held cartons under the episode benchmark's slow pan and zoom
    # moved by a median 0.016 of their size (90th percentile 0.055); cartons sliding into view, by
    # 0.087 (90th percentile 0.56) (BENCHMARKS.md, End to end). `margin` bounds the move a look around
    # can see at all.
    still_shift: float = 0.1
    # A candidate (a print below the bar) is confirmed by a second look that finds the same SKU with
    # at least this share of the smaller box in common (the product pans and zooms between looks).
    same_place: float = 0.5


def detection_confidence(inliers: int, min_inliers: int) -> float:
    """A located product's detection confidence: at the bar 0.5, rising
    with support towards 1 (three times the bar: ~0.75). Only its order matters downstream (which
    crops are linked, which label a track gets)."""
    extra = max(0, inliers - min_inliers)
    return float(0.5 + 0.5 * extra / (extra + 2 * max(min_inliers, 1)))


def as_detections(found: Sequence[Located], class_id: int, min_inliers: int) -> Detections:
    if not found:
        return Detections.empty()
    return Detections(
        xyxy=np.array([item.xyxy for item in found], dtype=np.float32),
        confidence=np.array([detection_confidence(item.inliers, min_inliers) for item in found], np.float32),
        class_id=np.full(len(found), class_id, dtype=np.int64),
    )


def away_from(general: Detections, boxes: Sequence[Box], overlap_iou: float = 0.3) -> Detections:
    """The general detector's boxes that lie on none of `boxes` (located products)."""
    if len(general) == 0 or not boxes:
        return general
    ious = box_iou(general.xyxy, np.array(boxes, dtype=np.float32))
    return general[np.all(ious <= overlap_iou, axis=1)]


def outside_change(
    change_map: Image, boxes: Sequence[Box], frame_shape: tuple[int, ...], min_share: float
) -> float:
    """The mean of `change_map` (a tiny frame's per-pixel change) outside `boxes` (in the pixels of a
    frame of `frame_shape`); 0 when less than `min_share` of the frame lies outside them."""
    outside = np.ones(change_map.shape[:2], dtype=bool)
    for box in boxes:
        outside[grid_cells(box, frame_shape, outside.shape)] = False
    if outside.sum() < min_share * outside.size:
        return 0.0
    return float(change_map[outside].mean())


def blanked(image: Image, boxes: Sequence[Box]) -> Image:
    """A copy of `image` with `boxes` filled with mid-grey: no keypoint is found inside them."""
    copy = image.copy()
    for box in boxes:
        copy[grid_cells(box, image.shape, image.shape)] = 128
    return copy


def grid_cells(box: Box, frame_shape: tuple[int, ...], grid_shape: tuple[int, ...]) -> tuple[slice, slice]:
    """The (rows, columns) of a grid laid over a frame (`grid_shape` cells, `frame_shape` pixels) that
    `box` (frame pixels) touches, clipped to the grid."""
    height, width = frame_shape[:2]
    rows, cols = grid_shape[:2]
    x1, y1, x2, y2 = box
    return (
        slice(max(0, math.floor(y1 * rows / height)), min(rows, math.ceil(y2 * rows / height))),
        slice(max(0, math.floor(x1 * cols / width)), min(cols, math.ceil(x2 * cols / width))),
    )


def shift(before: Box, after: Box) -> float:
    """How far a box's centre moved, as a share of its earlier width or height (the larger)."""
    width, height = max(before[2] - before[0], 1e-6), max(before[3] - before[1], 1e-6)
    dx = abs((after[0] + after[2]) - (before[0] + before[2])) / 2
    dy = abs((after[1] + after[3]) - (before[1] + before[3])) / 2
    return max(dx / width, dy / height)


def widened_box(box: Box, margin: float) -> Box:
    x1, y1, x2, y2 = box
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    return (x1 - dx, y1 - dy, x2 + dx, y2 + dy)


@dataclass(frozen=True, slots=True, eq=False)
class Sighting:
    """Located products in one earlier frame (with their track ids): a candidate's first sighting,
    credited to its track once a later look confirmed it."""

    t_ms: int
    frame_index: int
    image: Image
    located: Detections


@dataclass(frozen=True, slots=True, eq=False)
class LocatedFrame:
    """One frame's proposals: the general detector's boxes for the tracker (those on a located
    product removed), the located products, each already carrying its track id, and the earlier
    sightings of products this frame confirmed."""

    general: Detections
    located: Detections
    earlier: tuple[Sighting, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class _Candidate:
    found: Located
    t_ms: int
    frame_index: int
    image: Image


@dataclass(slots=True)
class ShotLocator:
    """Per-shot state of where catalog products were last found; `reset` at every cut.

    A located product is its own track: the locator re-finds it by its SKU, so its identity needs no
    box association. Handed to the IoU tracker instead, a product found after a shot's first frame
    rarely became a placement: the tracker confirms a new track only when the next frame's detections
    match it (at a shot's first frame it confirms at once), and looks come every `follow_ms`, not every
    frame; a weakly located product's box also moves too much between looks to be associated."""

    index: CatalogIndex
    class_id: int
    config: LocateConfig = field(default_factory=LocateConfig)
    schedule: LocateSchedule = field(default_factory=LocateSchedule)
    looks: int = 0
    seconds: float = 0.0
    _last_look_ms: int | None = None
    _following: dict[int, Box] = field(default_factory=dict)
    # Seen once below the bar at the last full look, by catalog row.
    _candidates: dict[int, _Candidate] = field(default_factory=dict)
    # Track ids of the products being followed (catalog row -> id): negative, apart from the
    # tracker's, never -1 (an unconfirmed track in `Detections`) and never reused over the video.
    _track_ids: dict[int, int] = field(default_factory=dict)
    _last_track_id: int = -1
    # The next sample is looked at whatever the schedule (a product just found mid-shot, candidates).
    _look_soon: bool = False
    # The picture changed enough since a sample where nothing was followed (`LocateSchedule.change_luma`)
    # and no whole-frame look has followed yet: kept when that sample went to confirming candidates
    # that it did not confirm (a confirmed one's own entry is the likeliest change).
    _picture_changed: bool = False
    # Whole-frame looks in a row, this shot, that saw nothing (no product, no candidate): the retry
    # waits `retry_ms` after the first, twice as long after the next, up to `max_retry_ms`.
    _fruitless: int = 0
    # The picture changed enough away from the followed products (`outside_change`): at the next
    # sample they are looked at, and if they all held still, a look for newcomers follows.
    _newcomers_due: bool = False
    newcomer_looks: int = 0
    # Followed products (catalog rows) that held still at their last look, or were in view from the
    # shot's first look; not one just found mid-shot, nor one that moved further than `margin`.
    _still: set[int] = field(default_factory=set)

    @property
    def class_name(self) -> str:
        return PRODUCT_CLASS_NAME

    def proposals(
        self,
        general: Detections,
        image: Image,
        t_ms: int,
        starts_shot: bool,
        frame_index: int = 0,
        change: float = 0.0,
        change_map: Image | None = None,
    ) -> LocatedFrame:
        """Split this frame's proposals into the general detector's boxes (for the tracker) and the
        located products (tracked by SKU); a frame that starts a shot forgets the previous shot's
        products first. A general box on a located or followed product is dropped: one object, one
        track (and one placement to link). `change`: how much the picture changed over the last sampling
        period (`pipeline.Sample.change`, `LocateSchedule.change_luma`); `change_map`: where (the
        absolute difference of the tiny luma frames, `pipeline.change_map`), to tell a change away from
        the followed products; without it no look for newcomers is made."""
        started = time.perf_counter()
        if starts_shot:
            self.reset()
        # A followed product being carried changes the picture around it itself (the hand, what it
        # passes): only while every followed product holds still is a change away from them a newcomer.
        if self._following and change_map is not None and self._still >= self._following.keys():
            away = outside_change(
                change_map,
                [widened_box(box, self.schedule.margin) for box in self._following.values()],
                image.shape[:2],
                self.schedule.min_outside,
            )
            self._newcomers_due = self._newcomers_due or away >= self.schedule.change_luma
        found, confirmed = self._look(image, t_ms, frame_index, change)
        located = self._tracked(found)
        # (A look for newcomers alone returns only them: the products followed are still there.)
        on_products = [*(_box(row) for row in located.xyxy), *self._following.values()]
        earlier = tuple(self._sighting(candidate) for candidate in confirmed)
        frame = LocatedFrame(away_from(general, on_products), located, earlier)
        self.seconds += time.perf_counter() - started
        return frame

    @property
    def following(self) -> bool:
        """Whether a product of the current shot is being followed (as of the last sample)."""
        return bool(self._following)

    def held_until(self, shot_end_ms: int) -> dict[int, int]:
        """Track id -> until when each product still followed when its shot ended is shown: until its
        next look was due, or the shot's end if that came first. No look saw it leave, and without
        the hold every located placement would end up to a follow interval before its product left."""
        if self._last_look_ms is None:
            return {}
        until = min(self._last_look_ms + self.schedule.follow_ms, shot_end_ms)
        return {self._track_ids[row]: until for row in self._following if row in self._track_ids}

    def reset(self) -> None:
        self._last_look_ms = None
        self._look_soon = False
        self._picture_changed = False
        self._fruitless = 0
        self._newcomers_due = False
        self._still = set()
        self._following = {}
        self._candidates = {}
        self._track_ids = {}

    def detect(self, image: Image, t_ms: int, frame_index: int = 0) -> Detections:
        """Located products in this frame, with their track ids, when it is time to look; empty
        otherwise."""
        return self._tracked(self._look(image, t_ms, frame_index)[0])

    def _tracked(self, found: Sequence[Located]) -> Detections:
        detections = as_detections(found, self.class_id, self.config.min_inliers)
        if not found:
            return detections
        return detections.with_tracker_id(np.array([self._track_id(item.row) for item in found], np.int64))

    def _sighting(self, candidate: _Candidate) -> Sighting:
        return Sighting(
            candidate.t_ms, candidate.frame_index, candidate.image, self._tracked([candidate.found])
        )

    def _track_id(self, row: int) -> int:
        """One track per product while it is followed; lost by a look and found again later, it
        starts a new one (the placement builder joins fragments a short gap apart, not a product
        that left the frame and came back)."""
        if row not in self._track_ids:
            self._last_track_id -= 1
            self._track_ids[row] = self._last_track_id
        return self._track_ids[row]

    def _look(
        self, image: Image, t_ms: int, frame_index: int, change: float = 0.0
    ) -> tuple[list[Located], list[_Candidate]]:
        """(products found in this frame, the candidates among them as first seen), when it is time
        to look; nothing otherwise."""
        since = None if self._last_look_ms is None else t_ms - self._last_look_ms
        if not self._following and change >= self.schedule.change_luma:
            self._picture_changed = True
        newcomers = self._newcomers_due and bool(self._following)
        if (
            self._look_soon
            or newcomers
            or (self._following and (since is None or since >= self.schedule.follow_ms))
        ):
            following = bool(self._following)
            self._look_soon = False
            found, confirmed = self._look_around(image)
            # A look at candidates alone that confirms none leaves the retry clock where the whole-frame
            # look that saw them set it: an unconfirmed candidate never delays the next search.
            if following or found:
                self._last_look_ms = t_ms
            if found:
                # A product is followed now: a change seen before it was confirmed was most likely
                # its own entry (a change away from it asks for newcomers from now on).
                self._picture_changed = False
            if newcomers:
                # Looked at just now: the followed products' boxes are where they are in this frame,
                # and a product that moved since its last look made the change itself.
                self._newcomers_due = False
                if not self._following:
                    # The products it was seen beside are gone: a change away from them is a change.
                    self._picture_changed = True
                elif self._still >= self._following.keys():
                    found += self._look_for_newcomers(image, t_ms, frame_index)
            return found, confirmed
        if self._following:
            return [], []
        if since is not None and since < self.retry_wait_ms() and not self._picture_changed:
            return [], []
        self._picture_changed = False
        self._last_look_ms = t_ms
        self.looks += 1
        seen = locate_products(image, self.index, self.config, min_inliers=self.config.tentative_inliers)
        found = [item for item in seen if item.inliers >= self.config.min_inliers]
        # Candidates are kept only from a look that found no product: beside a product in focus, a
        # weak print is most often the shelf behind it (the focus rule compares prints within a look).
        self._candidates = (
            {} if found else {item.row: _Candidate(item, t_ms, frame_index, image) for item in seen}
        )
        self._fruitless = 0 if seen else self._fruitless + 1
        self._following = {item.row: item.xyxy for item in found}
        self._still = {item.row for item in found} if since is None else set()
        # A product found after the shot's first look has just come into view (or turned to the
        # camera), and the shot may end soon: it needs a second sighting to become a placement, so the
        # next sample looks again rather than one follow interval later. A candidate is confirmed or
        # forgotten by that look too.
        self._look_soon = bool(self._candidates) or (bool(found) and since is not None)
        return found, []

    def retry_wait_ms(self) -> int:
        """How long after the last look a shot with nothing followed is searched again unasked (a
        change in the picture brings the look sooner)."""
        if self._fruitless <= 1:
            return self.schedule.retry_ms
        doubled: int = self.schedule.retry_ms << min(self._fruitless - 1, 16)
        return max(self.schedule.retry_ms, min(doubled, self.schedule.max_retry_ms))

    def _look_for_newcomers(self, image: Image, t_ms: int, frame_index: int) -> list[Located]:
        """A whole-frame look with the followed products blanked out (their boxes widened by the
        margin): products found there join those followed, prints below the bar become candidates,
        and the next sample looks at them again (the second sighting a placement needs)."""
        self.looks += 1
        self.newcomer_looks += 1
        followed = list(self._following.values())
        seen = locate_products(
            blanked(image, [widened_box(box, self.schedule.margin) for box in followed]),
            self.index,
            self.config,
            min_inliers=self.config.tentative_inliers,
        )
        # Not a followed SKU seen again, nor a print on a followed product (a sibling's print matches
        # there too): one object, one track.
        fresh = [
            item
            for item in seen
            if item.row not in self._following
            and all(box_overlap(item.xyxy, box) <= self.config.max_overlap for box in followed)
        ]
        found = [item for item in fresh if item.inliers >= self.config.min_inliers]
        self._following.update({item.row: item.xyxy for item in found})
        self._candidates.update(
            {item.row: _Candidate(item, t_ms, frame_index, image) for item in fresh if item not in found}
        )
        self._look_soon = self._look_soon or bool(fresh)
        return found

    def _look_around(self, image: Image) -> tuple[list[Located], list[_Candidate]]:
        """Each followed product and each candidate, for its SKU only, around its last box. A product
        not there is searched for in the whole frame once (a product being picked up or carried in
        moves further between looks than the margin allows); not found there either, its track ends."""
        found: list[Located] = []
        lost: list[int] = []
        still: set[int] = set()
        for row, box in list(self._following.items()):
            again = self._around(image, row, box)
            if again is None:
                lost.append(row)
            else:
                found.append(again)
                if shift(box, again.xyxy) < self.schedule.still_shift:
                    still.add(row)
        if lost:
            self.looks += 1
            moved = locate_products(
                image, self.index, self.config, rows=lost, min_inliers=self.config.tentative_inliers
            )
            # Not on a product this look found around its box: a near-twin's print matches the lost
            # SKU's there, and one object must not become two tracks.
            found.extend(
                item
                for item in moved
                if all(box_overlap(item.xyxy, other.xyxy) <= self.config.max_overlap for other in found)
            )
        confirmed = []
        for row, candidate in self._candidates.items():
            again = self._around(image, row, candidate.found.xyxy)
            if (
                again is not None
                and box_overlap(candidate.found.xyxy, again.xyxy) >= self.schedule.same_place
            ):
                confirmed.append(candidate)
                found.append(again)
        self._candidates = {}
        for row in self._following.keys() - {item.row for item in found}:
            self._track_ids.pop(row, None)
        self._following = {item.row: item.xyxy for item in found}
        self._still = still & self._following.keys()
        return found, confirmed

    def _around(self, image: Image, row: int, box: Box) -> Located | None:
        self.looks += 1
        again = locate_products(
            image,
            self.index,
            self.config,
            rows=[row],
            region=widened_box(box, self.schedule.margin),
            min_inliers=self.config.tentative_inliers,
        )
        return again[0] if again else None


def locator_for(linker: TrackLinker, settings: TaggerSettings, class_id: int) -> ShotLocator | None:
    """A locator over the linker's catalog index (None for a linker without one, e.g. a test fake)."""
    index = getattr(linker, "index", None)
    if not isinstance(index, CatalogIndex):
        return None
    config = LocateConfig(
        max_keypoints=settings.locate_max_keypoints,
        max_side=settings.locate_max_side,
        min_inliers=settings.locate_min_inliers,
        tentative_inliers=min(settings.locate_tentative_inliers, settings.locate_min_inliers),
        max_rows=settings.locate_max_rows,
        min_rows=settings.locate_min_rows,
        row_share=settings.locate_row_share,
    )
    schedule = LocateSchedule(
        retry_ms=settings.locate_retry_ms,
        max_retry_ms=settings.locate_max_retry_ms,
        follow_ms=settings.locate_follow_ms,
        change_luma=settings.locate_change_luma,
    )
    return ShotLocator(index, class_id, config, schedule)


def explained(placements: Sequence[Placement], keep_labels: Sequence[str] = ()) -> tuple[Placement, ...]:
    """The placements some catalog SKU explains: linked, not "unknown" and not contradicted by its
    crops; or labelled with one of `keep_labels` (products found by their print: a packshot already
    explained them geometrically, so a linker unsure between siblings proposes them for review rather
    than dropping them).

    A contradicted link (the crops show another variant's name on the SKU's print, or its print in
    other colours) explains nothing: its best SKU is, by the crops' own evidence, not what is shown. On
    the episode benchmark the one such general-detector placement was a bottle at the frame's edge on
    the shelf behind the held product, and it outlasted the held product's placement."""
    return tuple(
        placement
        for placement in placements
        if placement.label in keep_labels
        or (
            placement.link is not None
            and placement.link.decision is not Decision.UNKNOWN
            and not placement.link.contradicted
        )
    )


def without_doubles(placements: Sequence[Placement], located_label: str) -> tuple[Placement, ...]:
    """Drop a general-detector placement that a located product's placement covers: the same shot,
    most of its time within the located one's, at the same place (half the smaller box in common
    midway through their common time). It is the same object seen twice, typically while the
    locator held the product as a candidate: the general detector's track ran until the product was
    confirmed, and the product's track was then credited back to its first sighting."""
    located = [p for p in placements if p.label == located_label]
    return tuple(
        placement
        for placement in placements
        if placement.label == located_label or not any(_covers(product, placement) for product in located)
    )


def _covers(product: Placement, other: Placement) -> bool:
    if product.shot != other.shot:
        return False
    start, end = max(product.start_ms, other.start_ms), min(product.end_ms, other.end_ms)
    if end - start < 0.5 * max(other.end_ms - other.start_ms, 1):
        return False
    middle = (start + end) // 2
    return box_overlap(_xyxy(box_at(product, middle)), _xyxy(box_at(other, middle))) >= 0.5


def box_at(placement: Placement, t_ms: int) -> tuple[float, float, float, float]:
    """The placement's (x, y, w, h) box at `t_ms`, interpolated between its keyframes as the player
    does (held before the first and after the last)."""
    times = [frame.t_ms for frame in placement.keyframes]
    boxes = np.array([frame.box for frame in placement.keyframes], dtype=np.float64)
    x, y, w, h = (float(v) for v in interpolate_boxes(times, boxes, [t_ms])[0])
    return (x, y, w, h)


def _xyxy(box: tuple[float, float, float, float]) -> Box:
    x, y, w, h = box
    return (x, y, x + w, y + h)


def _box(row: FloatArray) -> Box:
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
