"""Scoring a tagged episode against its labelled shots, as a brand judges it: how many of my products
became placements, how many were linked to the right SKU, what was published without a human, and
whether anything appeared where no product was.

Truth is a list of shots `{start_ms, end_ms, sku}` (`sku: null` for a shot with no catalog product),
a product shot optionally with `visible_ms`, when its product comes into view (from its first frame
otherwise), and `also`, the products brought into it later (`[{sku, visible_ms}]`: a second product
carried into a shot where the first is held). A placement belongs to the shot it overlaps most; a
shot's link is read from its longest placement, and its wait (`delay_ms`) from its earliest. In a shot
with later products, the placements linked (top-1) to one of them are theirs, not the shot's: a later
product counts as linked when one of the shot's placements names it at top-1.

A product the brand does not sell is on screen in most episodes (a sibling flavour of its own product,
a competitor's carton). Leaving some shots' SKUs out of the catalog (`choose_left_out`) measures that
case: those shots' products are not in the catalog, so any placement approved there sells the wrong
product, and the shots are scored apart from the in-catalog ones.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tagger.exceptions import TaggerError

TOP_K = 5
# How near the brand's auto-approve level a link counts as "on the edge": links move by about 0.02
# between CPUs (the embedder's and OCR's float kernels, BENCHMARKS.md, End to end), so a link this
# close to the level may be approved on one machine and proposed on another.
NEAR_THRESHOLD = 0.05


class TruthError(TaggerError):
    """A truth file that cannot be scored against: unreadable, not a list of shots, or overlapping shots."""


@dataclass(frozen=True, slots=True)
class TruthProduct:
    """A product brought into a shot after its start, while the shot's own product is in view."""

    sku: str
    visible_ms: int


@dataclass(frozen=True, slots=True)
class TruthShot:
    start_ms: int
    end_ms: int
    sku: str | None
    # When the product comes into view (a product picked up or carried in mid-shot); None: from the
    # shot's first frame. Only the wait for the first placement (`ShotScore.delay_ms`) and the time in
    # view (`ShotScore.in_view_ms`, `shown_ms`) read it.
    visible_ms: int | None = None
    also: tuple[TruthProduct, ...] = ()


@dataclass(frozen=True, slots=True)
class ScoredPlacement:
    """What the scorer needs of a placement: its span, its candidates (best first) and its decision."""

    start_ms: int
    end_ms: int
    candidate_skus: tuple[str, ...]
    approved_sku: str | None  # set when the placement was approved (by the linker's rules)
    # The top candidate's probability, and whether the crops contradicted it (never approved then).
    confidence: float | None = None
    contradicted: bool = False
    # The confidence its link needed to be approved (a confirmed own print lowers it); None: the
    # brand's auto-approve level.
    approval_level: float | None = None


@dataclass(frozen=True, slots=True)
class NearThreshold:
    """A link within NEAR_THRESHOLD of the level it needed to be approved (`level`: the auto-approve
    level, or the own-print level), not contradicted: whether it is approved may differ on another
    machine. `right` is None on a shot whose product was left out of the catalog
    (any approval there sells the wrong product)."""

    shot_start_ms: int
    shot_sku: str | None
    sku: str | None
    confidence: float
    approved: bool
    right: bool | None
    level: float


@dataclass(frozen=True, slots=True)
class LaterProductScore:
    """A product brought into a shot later (`TruthShot.also`): whether a placement of the shot names
    it at top-1, and was approved as it; how long after coming into view its first such placement
    started."""

    sku: str
    linked: bool
    approved: bool
    delay_ms: int | None
    left_out: bool = False


@dataclass(frozen=True, slots=True)
class ShotScore:
    start_ms: int
    end_ms: int
    sku: str | None
    placements: int
    top1: str | None
    top1_right: bool
    top5_right: bool
    approved: tuple[str, ...]
    # The shot's product was left out of the catalog: no link can be right, an approved one is wrong.
    left_out: bool = False
    # A product shot's time from its product coming into view to its first placement's start (None
    # when it got none): how long a viewer waits for the hotspot.
    delay_ms: int | None = None
    # How long the shot's product is in view (from `visible_ms` to the cut), and for how much of that
    # a placement of the shot is on screen (0 on a product-free shot).
    in_view_ms: int = 0
    shown_ms: int = 0
    later: tuple[LaterProductScore, ...] = ()
    # Approved placements of the shot, its own product's and the later ones': selling a product of
    # the shot the catalog holds, or not.
    approved_right: int = 0
    approved_wrong: int = 0


@dataclass(frozen=True, slots=True)
class EpisodeScore:
    product_shots: int
    product_free_shots: int
    found: int
    top1_right: int
    top5_right: int
    auto_approved_shots: int
    auto_approved_right: int
    auto_approved_wrong: int
    placements_on_product_free_shots: int
    shots: tuple[ShotScore, ...]
    # Shots whose product was left out of the catalog (not counted in `product_shots`): how many, how
    # many got any placement (proposed to a reviewer as some other SKU, or approved) and how many got an
    # approved one (a hotspot selling the wrong product; also counted in `auto_approved_wrong`).
    left_out_skus: tuple[str, ...] = ()
    left_out_shots: int = 0
    left_out_with_placements: int = 0
    left_out_auto_approved: int = 0
    # Links on the edge of the auto-approve level (empty when scored without the level).
    near_threshold: tuple[NearThreshold, ...] = ()
    # Products brought into shots later (`TruthShot.also`), those in the catalog: how many, how many a
    # placement named at top-1, how many were approved as themselves.
    later_products: int = 0
    later_linked: int = 0
    later_approved: int = 0

    def rates(self) -> dict[str, float]:
        shots = max(self.product_shots, 1)
        rates = {
            "found": self.found / shots,
            "top1": self.top1_right / shots,
            "top5": self.top5_right / shots,
            "auto_approved": self.auto_approved_shots / shots,
        }
        if self.later_products:
            rates["later_linked"] = self.later_linked / self.later_products
        if self.left_out_shots:
            rates["left_out_with_placements"] = self.left_out_with_placements / self.left_out_shots
            rates["left_out_auto_approved"] = self.left_out_auto_approved / self.left_out_shots
        return rates

    def shown_share(self) -> float | None:
        """Of the time the in-catalog products are in view, the share a placement is on screen with
        them (a shot never found counts as not shown); None without a product shot. A placement ends
        at its last frame's time and a shot at its cut, so a shot covered to its end is one frame
        short of all of it (≈ 1 % of a 3 s shot)."""
        product = [s for s in self.shots if s.sku is not None and not s.left_out]
        in_view = sum(s.in_view_ms for s in product)
        return sum(s.shown_ms for s in product) / in_view if in_view > 0 else None

    def delays_ms(self) -> list[int]:
        """The found in-catalog product shots' `delay_ms`, shortest first."""
        return sorted(s.delay_ms for s in self.shots if s.delay_ms is not None and not s.left_out)

    def later_delays_ms(self) -> list[int]:
        """The linked later products' waits for their first placement, shortest first."""
        return sorted(
            later.delay_ms
            for shot in self.shots
            for later in shot.later
            if later.delay_ms is not None and not later.left_out
        )

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["rates"] = {name: round(value, 4) for name, value in self.rates().items()}
        delays = self.delays_ms()
        document["delay_ms"] = _waits(delays)
        document["later_delay_ms"] = _waits(self.later_delays_ms())
        shown = self.shown_share()
        document["shown_share"] = None if shown is None else round(shown, 4)
        return document


def _waits(delays: Sequence[int]) -> dict[str, int] | None:
    """Waits for a first placement (shortest first), summed up: median, max, how many over a second."""
    if not delays:
        return None
    return {"median": int(np.median(delays)), "max": delays[-1], "over_1s": sum(d > 1000 for d in delays)}


def sold_in(shot: TruthShot, left_out: Collection[str]) -> set[str | None]:
    """The SKUs a placement in `shot` may rightly sell: its product and those brought in later, those
    the catalog holds."""
    return {shot.sku, *(later.sku for later in shot.also)} - {None, *left_out}


def read_truth(path: Path) -> list[TruthShot]:
    """The labelled shots of an episode, checked: each a span with `end_ms > start_ms >= 0`, in order,
    not overlapping, a string SKU or null, and a product shot's `visible_ms`, if any, within its span."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TruthError(f"{path.name}: not a readable JSON file ({type(error).__name__})") from error
    return parse_truth(document, name=path.name)


def parse_truth(document: object, *, name: str = "truth") -> list[TruthShot]:
    if not isinstance(document, list) or not document:
        raise TruthError(f"{name}: expected a non-empty JSON list of {{start_ms, end_ms, sku}} shots")
    shots: list[TruthShot] = []
    for number, entry in enumerate(document, start=1):
        if not isinstance(entry, dict):
            raise TruthError(f"{name}: shot {number} is not an object")
        start, end, sku = entry.get("start_ms"), entry.get("end_ms"), entry.get("sku")
        if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool):
            raise TruthError(f"{name}: shot {number} needs integer start_ms and end_ms")
        if not 0 <= start < end:
            raise TruthError(f"{name}: shot {number} spans {start}..{end} ms; need 0 <= start_ms < end_ms")
        if "sku" not in entry or (sku is not None and (not isinstance(sku, str) or not sku.strip())):
            raise TruthError(f"{name}: shot {number} needs a SKU string, or null for a product-free shot")
        if shots and start < shots[-1].end_ms:
            raise TruthError(f"{name}: shot {number} starts before shot {number - 1} ends")
        visible = entry.get("visible_ms")
        if visible is not None and sku is None:
            raise TruthError(f"{name}: shot {number} has no product to come into view (visible_ms)")
        if visible is not None and (
            not isinstance(visible, int) or isinstance(visible, bool) or not start <= visible < end
        ):
            raise TruthError(
                f"{name}: shot {number} has visible_ms {visible!r}; "
                f"need an integer in its span {start}..{end} ms"
            )
        shots.append(TruthShot(start, end, sku, visible, _later_products(entry, number, name, start, end)))
    return shots


def _later_products(
    entry: dict[str, Any], number: int, name: str, start: int, end: int
) -> tuple[TruthProduct, ...]:
    """A shot's `also`: products brought in after it starts, each a SKU and its `visible_ms` within the
    shot's span, none the shot's own SKU or another's twice."""
    also = entry.get("also", [])
    if not isinstance(also, list) or (also and entry.get("sku") is None):
        raise TruthError(
            f"{name}: shot {number}'s also must be a list of {{sku, visible_ms}}, in a shot with a product"
        )
    products: list[TruthProduct] = []
    for later in also:
        sku = later.get("sku") if isinstance(later, dict) else None
        visible = later.get("visible_ms") if isinstance(later, dict) else None
        if not isinstance(sku, str) or not sku.strip():
            raise TruthError(f"{name}: shot {number} has a later product without a SKU string")
        if sku == entry.get("sku") or any(product.sku == sku for product in products):
            raise TruthError(f"{name}: shot {number} names {sku} twice")
        if not isinstance(visible, int) or isinstance(visible, bool) or not start <= visible < end:
            raise TruthError(
                f"{name}: shot {number}'s later product {sku} has visible_ms {visible!r}; "
                f"need an integer in its span {start}..{end} ms"
            )
        products.append(TruthProduct(sku, visible))
    return tuple(products)


def choose_left_out(truth: Sequence[TruthShot], count: int, seed: int = 0) -> frozenset[str]:
    """`count` distinct SKUs of the truth's product shots to leave out of the catalog, drawn by a
    seeded permutation of the sorted SKUs (the same truth, count and seed always give the same set)."""
    skus = sorted({shot.sku for shot in truth if shot.sku is not None})
    if not 0 <= count <= len(skus):
        raise TruthError(f"cannot leave out {count} SKUs: the truth's product shots show {len(skus)}")
    order = np.random.default_rng(seed).permutation(len(skus))
    return frozenset(skus[int(position)] for position in order[:count])


def shot_index(start_ms: int, end_ms: int, truth: Sequence[TruthShot]) -> int | None:
    """The shot a span overlaps most (a placement never spans a cut in practice, but a few frames of
    spill across one must not count it twice); None when it overlaps none."""
    overlaps = [max(0, min(end_ms, shot.end_ms) - max(start_ms, shot.start_ms)) for shot in truth]
    best = max(range(len(truth)), key=overlaps.__getitem__, default=None)
    return best if best is not None and overlaps[best] > 0 else None


def assign(placements: Sequence[ScoredPlacement], truth: Sequence[TruthShot]) -> list[list[ScoredPlacement]]:
    """Each placement goes to the shot it overlaps most (`shot_index`); placements outside every
    shot are dropped."""
    groups: list[list[ScoredPlacement]] = [[] for _ in truth]
    for placement in placements:
        best = shot_index(placement.start_ms, placement.end_ms, truth)
        if best is not None:
            groups[best].append(placement)
    return groups


def covered_ms(placements: Sequence[ScoredPlacement], start_ms: int, end_ms: int) -> int:
    """How much of start_ms..end_ms the placements' spans cover together (overlaps counted once)."""
    spans = sorted((max(p.start_ms, start_ms), min(p.end_ms, end_ms)) for p in placements)
    covered, reached = 0, start_ms
    for begin, end in spans:
        if end > max(begin, reached):
            covered += end - max(begin, reached)
            reached = end
    return covered


def on_the_edge(confidence: float | None, contradicted: bool, level: float) -> bool:
    """An uncontradicted link within NEAR_THRESHOLD of the level it needed to be approved: another
    machine may decide its approval the other way (a contradicted link is never approved)."""
    return confidence is not None and not contradicted and abs(confidence - level) < NEAR_THRESHOLD


def near_threshold(
    shot: TruthShot, placed: Sequence[ScoredPlacement], auto_approve: float, *, left_out: Collection[str]
) -> list[NearThreshold]:
    """The shot's uncontradicted links within NEAR_THRESHOLD of the level each needed (its own
    `approval_level`, else `auto_approve`): right when they name a product of the shot in the catalog;
    unknowable (None) in a shot whose own product was left out."""
    sold = sold_in(shot, left_out)

    def level(placement: ScoredPlacement) -> float:
        return auto_approve if placement.approval_level is None else placement.approval_level

    return [
        NearThreshold(
            shot_start_ms=shot.start_ms,
            shot_sku=shot.sku,
            sku=placement.candidate_skus[0] if placement.candidate_skus else None,
            confidence=placement.confidence,
            approved=placement.approved_sku is not None,
            right=True
            if placement.candidate_skus and placement.candidate_skus[0] in sold
            else None
            if shot.sku in left_out
            else False,
            level=level(placement),
        )
        for placement in placed
        if placement.confidence is not None
        and on_the_edge(placement.confidence, placement.contradicted, level(placement))
    ]


def later_products_placement(placement: ScoredPlacement, shot: TruthShot) -> TruthProduct | None:
    """The product brought into the shot later that `placement` is of: the one its top-1 names, if
    the placement lasts past that product's coming into view (before, it can only be the shot's own
    product, mislinked)."""
    top1 = placement.candidate_skus[0] if placement.candidate_skus else None
    return next(
        (later for later in shot.also if later.sku == top1 and placement.end_ms > later.visible_ms), None
    )


def score_episode(
    truth: Sequence[TruthShot],
    placements: Sequence[ScoredPlacement],
    *,
    left_out: Collection[str] = frozenset(),
    auto_approve: float | None = None,
) -> EpisodeScore:
    """Score every shot; shots whose SKU is in `left_out` (removed from the catalog the episode was
    linked against) are scored apart: only "did it get a placement, was one approved". Given the
    brand's `auto_approve` level, the links on its edge are listed too (`near_threshold`)."""
    shots: list[ShotScore] = []
    edge: list[NearThreshold] = []
    for shot, placed in zip(truth, assign(placements, truth), strict=True):
        missing = shot.sku is not None and shot.sku in left_out
        if auto_approve is not None:
            edge += near_threshold(shot, placed, auto_approve, left_out=left_out)
        # The placements of a product brought in later are that product's, not the shot's.
        group = [p for p in placed if later_products_placement(p, shot) is None]
        longest = max(group, key=lambda p: p.end_ms - p.start_ms, default=None)
        candidates = longest.candidate_skus if longest is not None else ()
        in_view = shot.start_ms if shot.visible_ms is None else shot.visible_ms
        first = min((p.start_ms for p in group), default=None)
        top1 = candidates[0] if candidates else None
        # Every approval in the shot, its own product's placements or a later one's: right when it
        # sells a product of the shot that the catalog holds.
        sold = sold_in(shot, left_out)
        approvals = [p.approved_sku for p in placed if p.approved_sku is not None]
        shots.append(
            ShotScore(
                start_ms=shot.start_ms,
                end_ms=shot.end_ms,
                sku=shot.sku,
                placements=len(group),
                top1=top1,
                top1_right=shot.sku is not None and top1 == shot.sku,
                top5_right=shot.sku is not None and shot.sku in candidates[:TOP_K],
                approved=tuple(p.approved_sku for p in group if p.approved_sku is not None),
                left_out=missing,
                # (A placement that starts before the product's entry, on a blurred glimpse, waited
                # nothing.)
                delay_ms=None if first is None or shot.sku is None else max(0, first - in_view),
                in_view_ms=0 if shot.sku is None else shot.end_ms - in_view,
                shown_ms=0 if shot.sku is None else covered_ms(group, in_view, shot.end_ms),
                later=tuple(_later_score(later, shot, placed, left_out) for later in shot.also),
                approved_right=sum(sku in sold for sku in approvals),
                approved_wrong=sum(sku not in sold for sku in approvals),
            )
        )
    product = [s for s in shots if s.sku is not None and not s.left_out]
    missing_shots = [s for s in shots if s.left_out]
    in_catalog_later = [later for s in shots for later in s.later if not later.left_out]
    return EpisodeScore(
        product_shots=len(product),
        product_free_shots=sum(s.sku is None for s in shots),
        found=sum(s.placements > 0 for s in product),
        top1_right=sum(s.top1_right for s in product),
        top5_right=sum(s.top5_right for s in product),
        auto_approved_shots=sum(bool(s.approved) for s in product),
        auto_approved_right=sum(s.approved_right for s in shots),
        auto_approved_wrong=sum(s.approved_wrong for s in shots),
        placements_on_product_free_shots=sum(s.placements for s in shots if s.sku is None),
        shots=tuple(shots),
        left_out_skus=tuple(sorted(left_out)),
        left_out_shots=len(missing_shots),
        left_out_with_placements=sum(s.placements > 0 for s in missing_shots),
        # (Any approval of a left-out shot's own placements sells the wrong product.)
        left_out_auto_approved=sum(bool(s.approved) for s in missing_shots),
        near_threshold=tuple(edge),
        later_products=len(in_catalog_later),
        later_linked=sum(later.linked for later in in_catalog_later),
        later_approved=sum(later.approved for later in in_catalog_later),
    )


def _later_score(
    later: TruthProduct, shot: TruthShot, placed: Sequence[ScoredPlacement], left_out: Collection[str]
) -> LaterProductScore:
    named = [p for p in placed if later_products_placement(p, shot) == later]
    first = min((p.start_ms for p in named), default=None)
    return LaterProductScore(
        sku=later.sku,
        linked=bool(named),
        approved=any(p.approved_sku == later.sku for p in named),
        delay_ms=None if first is None else max(0, first - later.visible_ms),
        left_out=later.sku in left_out,
    )
