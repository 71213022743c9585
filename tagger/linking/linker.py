"""Linking a track to a catalog SKU: shortlist, verify, fuse, vote across the track's best crops.

Per crop: a cheap pass over the whole catalog (embedding, colour and text postings; a few matrix
products, so 10,000 SKUs cost milliseconds) keeps a shortlist; only the shortlist pays for keypoint
matching with RANSAC. The fusion model turns the signals into probabilities over "which SKU, or
none". A track's answer averages its crops' probabilities: a sharp frontal frame that reads the logo
outweighs nothing, but it is not outvoted by blurred frames that are merely unsure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from tagger.arrays import FloatArray, Image
from tagger.linking.aligned import aligned_similarity
from tagger.linking.decision import Decision, DecisionInputs, LinkThresholds, decided
from tagger.linking.errors import LinkingError
from tagger.linking.features import Extractor, ImageFeatures
from tagger.linking.fusion import CHANCE_INLIERS, SIGNAL_NAMES, FusionModel
from tagger.linking.images import ImageProblem, check_image
from tagger.linking.index import CatalogIndex
from tagger.linking.keypoints import MatchingQuery, Verification, verify
from tagger.linking.own_print import points_inside
from tagger.linking.patches import patch_similarities
from tagger.linking.print_match import MIN_COLOURED_PAIRS, NO_MATCH, PrintMatch, print_match
from tagger.linking.print_words import WordReadings, foreign_words, word_readings, words_on_print

IntArray = NDArray[np.int64]

TOP_K = 5
# Below this many inliers a homography is as likely chance as geometry; no aligned comparison then.
MIN_INLIERS_FOR_ALIGNMENT = 8
# Print evidence: OCR read words of the SKU's catalog text, or keypoints agree on one homography at
# twice the inliers unrelated packshots reach by chance.
PRINT_EVIDENCE_INLIERS = 2 * CHANCE_INLIERS
# ... and the matched print is the SKU's own colour. Siblings of one brand often differ only in colour
# (Garant's 1.5 % milk is green where its 3 % is red, lettering and logo identical), which keypoints
# (grey levels) cannot see: a product missing from the catalog then matched its sibling with up to 75
# inliers and was auto-approved. Below this share of coloured inlier pairs with the same hue the match
# contradicts the SKU. On grocery-dev the sibling matches that were approved had 0.0-0.2 and every
# right approval 0.9-1.0 (BENCHMARKS.md, Linking: sibling evidence), so the level sits in a wide gap.
MIN_COLOUR_AGREEMENT = 0.5
# ... and, for a product whose brand marked its own print (`own_print`: the part of the pack its
# siblings lack), that many inliers inside the marks in some crop: as many as chance reaches on a whole
# unrelated packshot, and the marks are a part of one. On the episodes the right Yoggi Strawberry and
# Vanilla links reached 12-25 inliers there in every crop, their left-out siblings' cartons 0-4, and
# Arla Sour Cream's carton 0 on Arla Ecological Sour Cream's "eko"; a few right links of other products
# reached fewer and were held for review (BENCHMARKS.md, End to end).
OWN_PRINT_INLIERS = int(CHANCE_INLIERS)
# Twice that inside the marks, with the print seen (in the SKU's colours where the crops show enough
# colour to tell) and nothing contradicting it, confirms the product: the part of the pack its siblings
# lack matched at twice what chance reaches on a whole unrelated packshot. Such a link is approved from
# a lower confidence (`LinkThresholds.own_print_approve`): what keeps most right links under the
# auto-approve level is probability shared with sibling variants, which the marks tell apart. On the
# episodes right links reached 14-59 inliers there, left-out siblings' cartons 0-12 in their sibling's
# marks at a confidence of 0.48 or more, and 27 only at 0.07 (BENCHMARKS.md, End to end).
OWN_PRINT_CONFIRMING_INLIERS = 2 * OWN_PRINT_INLIERS
_TEXT_COLUMN = SIGNAL_NAMES.index("text")


# Bump when a change to the signals, the vote or the print-evidence rules changes what a stored link's
# inputs would be: links scored before it are then linked again by a settings change, not decided again
# from their stored inputs (`scorer_id`). A refit fusion model or another shortlist changes the id anyway.
SCORING_REVISION = 1


def scorer_id(model: FusionModel, shortlist: ShortlistConfig) -> str:
    """What scored a link, as a short digest: the fusion model's weights, the shortlist and the scoring
    code's revision. Kept in each link's `DecisionInputs.scorer`."""
    digest = hashlib.sha256(f"{SCORING_REVISION}\x00{shortlist!r}\x00".encode())
    digest.update(model.to_json().encode())
    return digest.hexdigest()[:16]


class OwnPrintMarks(StrEnum):
    """A product's own-print marks as approval sees them (`own_print`)."""

    NONE = "none"  # the brand marked nothing
    PLACED = "placed"  # on an indexed packshot: keypoints inside them are counted
    UNPLACED = "unplaced"  # on an image that is missing, unreadable or a scene: nothing can match them


@dataclass(frozen=True, slots=True)
class ShortlistConfig:
    """Recall-oriented first pass; fixed weights so the shortlist does not depend on the fitted model.

    30, not 20: on grocery-dev the right SKU missed a 20-row shortlist for 4 % of packaged photos (Oatly
    cartons whose photo colour is far from the packshot's), so no later signal could rank it; 30 rows
    cost ≈ 50 % more keypoint verification per crop (see BENCHMARKS.md, Linking).

    Keypoint verification (ratio test + USAC, ≈ 2 ms a candidate) runs only on the `verify` rows whose
    patch similarity is highest (≈ 0.2 ms a candidate): on grocery-dev, 5 of 30 lost nothing (top-1 0.81,
    top-5 0.95 vs 0.81 / 0.94 verifying all 30) at a sixth of the cost. Without patch descriptors (an
    embedder card with no [patches] table) every row is verified."""

    size: int = 30
    colour_weight: float = 0.5
    text_weight: float = 0.3
    verify: int = 5

    def __post_init__(self) -> None:
        if self.size < 1 or self.verify < 1:
            raise ValueError(
                f"shortlist size and verify count must be at least 1, got {self.size}, {self.verify}"
            )


@dataclass(frozen=True, slots=True)
class SkuCandidate:
    sku: str
    title: str
    confidence: float


@dataclass(frozen=True, slots=True)
class LinkResult:
    """The linker's answer for one placement."""

    candidates: tuple[SkuCandidate, ...]
    sku: str | None
    confidence: float
    unknown_probability: float
    decision: Decision
    index_version: str
    crops_used: int
    # Why the top SKU's print was or was not seen (`print_evidence`): what auto-approval rests on.
    evidence: str = ""
    # The crops showed evidence of another product (its print in other colours, another variant's name
    # on it): a person should look before it is published, whatever its confidence.
    contradicted: bool = False
    # The confidence this link needed to be approved: the brand's auto-approve level, or its own-print
    # level when the crops confirmed the product's marked own print. None: not decided by thresholds.
    approval_level: float | None = None
    # What the decision weighed, kept so a change of thresholds can decide the link again without
    # linking it again (`tagger.linking.decision.decided`). None from linkers that do not say.
    inputs: DecisionInputs | None = None


@dataclass(frozen=True, slots=True)
class CandidateSet:
    """Shortlisted catalog rows for one crop and their signals (K x 7, see fusion.SIGNAL_NAMES); for
    the verified rows, where and how well the print matched (auto-approval's evidence, not a fusion
    feature; `NO_MATCH` for rows not verified)."""

    rows: IntArray
    features: NDArray[np.float64]
    matches: tuple[PrintMatch, ...] = ()

    def match(self, position: int) -> PrintMatch:
        return self.matches[position] if position < len(self.matches) else NO_MATCH


class CropLike(Protocol):
    @property
    def image(self) -> Image: ...


class TrackLinker(Protocol):
    """What placements are linked with: `Linker`, or a fake in tests."""

    def link_track(
        self, crops: Sequence[Image | CropLike], thresholds: LinkThresholds | None = None
    ) -> LinkResult: ...


def catalog_scores(query: ImageFeatures, index: CatalogIndex) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(embedding, colour, text) similarity of the query to every SKU in the index. The embedding
    term uses each SKU's centroid (one row per SKU, not per view: a quarter of the work at 10,000
    SKUs), in a lower-dimensional subspace for large catalogs (see `index.shortlist_basis`);
    shortlisted SKUs get the exact best-view similarity in `candidate_set`."""
    if index.shortlist_basis is not None and index.projected_centroids is not None:
        projected = query.embeddings @ index.shortlist_basis
        embedding = (projected @ index.projected_centroids.T).max(axis=0).astype(np.float32)
    else:
        embedding = (query.embeddings @ index.centroids.T).max(axis=0).astype(np.float32)
    colour = (index.colours @ query.colour).astype(np.float32)
    text = np.zeros(len(index), dtype=np.float32)
    if query.words:
        for word, similarity in index.vocabulary.expand(query.words).items():
            rows = index.postings.get(word)
            if rows is not None:
                text[rows] += similarity * index.vocabulary.idf[word]
    return embedding, colour, text


@dataclass(slots=True)
class QueryVerifications:
    """One crop's keypoint verifications, each catalog image verified once however many views of the
    catalog ask for it (the whole catalog, then its packshots alone: `Linker.link_track`)."""

    matching: MatchingQuery
    outcomes: dict[str, Verification] = field(default_factory=dict)
    aligned: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, query: ImageFeatures) -> QueryVerifications:
        # The query's descriptors are quantized once for all the images it is verified against.
        return cls(MatchingQuery.of(query.local))

    def outcome(self, digest: str, image: ImageFeatures) -> Verification:
        if digest not in self.outcomes:
            self.outcomes[digest] = verify(self.matching, image.local)
        return self.outcomes[digest]

    def aligned_similarity(self, query: ImageFeatures, digest: str, image: ImageFeatures) -> float:
        """The colour similarity of query and image aligned by the verified homography (0 without a
        trustworthy one)."""
        if digest not in self.aligned:
            homography = _trusted_homography(self.outcome(digest, image), image)
            self.aligned[digest] = (
                0.0
                if homography is None
                else aligned_similarity(query.thumbnail, query.size, image.thumbnail, image.size, homography)
            )
        return self.aligned[digest]


def _trusted_homography(outcome: Verification, image: ImageFeatures) -> NDArray[np.float64] | None:
    """The verified homography where it can place things on the catalog image (enough inliers to be
    geometry, not chance, and a thumbnail to compare with); None otherwise."""
    if outcome.inliers < MIN_INLIERS_FOR_ALIGNMENT or not image.thumbnail.size:
        return None
    return outcome.homography


def _best_verification(
    query: ImageFeatures,
    verifications: QueryVerifications,
    index: CatalogIndex,
    row: int,
    readings: WordReadings,
    naming_words: frozenset[str],
) -> tuple[int, float, PrintMatch]:
    """(most inliers over the SKU's packshots, aligned colour similarity under that packshot's
    homography, where and how well the SKU's print matched on it).

    Packshots only: a scene (a shop photo, a frame of an episode) also shows what stands beside the
    product, and its keypoints there are not the SKU's print. A shop photo of Yoggi Strawberry taken at
    the shelf of Yoggi Vanilla verified a Vanilla photo with 139 inliers (its packshot: 5), auto-approved
    Vanilla as Strawberry, and as a ranking signal made Strawberry the top-1 of every Vanilla shot
    (BENCHMARKS.md, End to end). A scene ranks by its appearance (embedding, patches, colour)."""
    best_inliers, best_similarity, evidence = 0, 0.0, NO_MATCH
    product = index.products[row]
    for digest in product.image_digests:
        if digest not in index.packshot_digests:
            continue
        image = index.image_features[digest]
        outcome = verifications.outcome(digest, image)
        if outcome.inliers > best_inliers:
            best_inliers = outcome.inliers
            best_similarity = verifications.aligned_similarity(query, digest, image)
            evidence = _matched_print(query, outcome, image, index.documents[row], readings, naming_words)
    marked = product.own_print_digest
    if product.own_print and best_inliers and marked in index.packshot_digests:
        # The boxes are on that image; its verification is cached whichever image matched best.
        image = index.image_features[marked]
        own = points_inside(
            verifications.outcome(marked, image).candidate_points, image.size, product.own_print
        )
        evidence = replace(evidence, own_print_inliers=own)
    return best_inliers, best_similarity, evidence


def marks_of(index: CatalogIndex, row: int) -> OwnPrintMarks:
    """Whether product `row`'s brand marked its own print, and whether the image they are on is an
    indexed packshot (where keypoints can be matched)."""
    if row < 0 or not index.products[row].own_print:
        return OwnPrintMarks.NONE
    placed = index.products[row].own_print_digest in index.packshot_digests
    return OwnPrintMarks.PLACED if placed else OwnPrintMarks.UNPLACED


def _matched_print(
    query: ImageFeatures,
    outcome: Verification,
    image: ImageFeatures,
    document: frozenset[str],
    readings: WordReadings,
    naming_words: frozenset[str],
) -> PrintMatch:
    """Where and how well one packshot's print matched, and the naming words read on it that the SKU's
    text lacks."""
    points = (outcome.query_points, outcome.candidate_points)
    match = print_match(query.thumbnail, query.size, image.thumbnail, image.size, *points)
    homography = _trusted_homography(outcome, image)
    if homography is None:
        return match
    foreign = _foreign_words_on_print(query, document, homography, image, readings, naming_words)
    return replace(match, foreign_words=foreign)


def _foreign_words_on_print(
    query: ImageFeatures,
    document: frozenset[str],
    homography: NDArray[np.float64],
    image: ImageFeatures,
    readings: WordReadings,
    naming_words: frozenset[str],
) -> tuple[str, ...]:
    """Naming words OCR read inside this packshot's matched print that the SKU's text (`document`)
    lacks."""
    if not readings or len(query.word_points) != len(query.words):
        return ()
    on_print = words_on_print(query.word_points, homography, image.thumbnail, image.size)
    printed = [word for word, inside in zip(query.words, on_print, strict=True) if inside]
    return foreign_words(printed, document, readings, naming_words)


def best_patch_similarities(query: ImageFeatures, index: CatalogIndex, rows: IntArray) -> NDArray[np.float64]:
    """The "patch" signal of each row against the SKU's best-matching image (one batched product)."""
    owners = [
        (position, digest)
        for position, row in enumerate(rows)
        for digest in index.products[row].image_digests
    ]
    scores = patch_similarities([index.image_features[digest].patches for _, digest in owners], query.patches)
    best = np.full(len(rows), -np.inf)
    np.maximum.at(best, np.array([position for position, _ in owners], dtype=np.int64), scores)
    return np.where(np.isfinite(best), best, 0.0)


def best_view_similarity(query: ImageFeatures, index: CatalogIndex, row: int) -> float:
    return max(float((query.embeddings @ views.T).max()) for views in index.views(row))


def candidate_set(
    query: ImageFeatures,
    index: CatalogIndex,
    config: ShortlistConfig,
    *,
    exclude: int | None = None,
    verifications: QueryVerifications | None = None,
) -> CandidateSet:
    """Shortlist then verify: the K best rows by the cheap signals, each with its RANSAC inlier count.
    Pass the crop's `verifications` to reuse what another view of the catalog verified already."""
    embedding, colour, text = catalog_scores(query, index)
    text_feature = np.log1p(text)
    cheap = embedding + config.colour_weight * colour + config.text_weight * text_feature
    if exclude is not None:
        cheap[exclude] = -np.inf
    size = min(config.size, len(index) - (exclude is not None))
    rows = np.argpartition(-cheap, size - 1)[:size] if size < len(index) else np.arange(len(index))
    rows = rows[np.isfinite(cheap[rows])]
    rows = rows[np.argsort(-cheap[rows], kind="stable")].astype(np.int64)
    patches = best_patch_similarities(query, index, rows)
    chosen = rows_to_verify(patches, query.patches.size > 0, config.verify)
    verifications = verifications or QueryVerifications.of(query)
    # Located words only on the crop OCR read; what they may be is worked out once for all rows.
    readings = word_readings(query.words, index.vocabulary) if query.word_points.size else {}
    # A catalog without the excluded product (evaluation) no longer names anything by its title.
    naming = index.naming_words if exclude is None else index.naming_words_without(exclude)
    verified = [
        _best_verification(query, verifications, index, int(row), readings, naming)
        if verify
        else (0, 0.0, NO_MATCH)
        for row, verify in zip(rows, chosen, strict=True)
    ]
    inliers = np.array([inliers for inliers, _, _ in verified], dtype=np.float64)
    aligned = np.array([similarity for _, similarity, _ in verified], dtype=np.float64)
    features = np.column_stack(
        [
            [best_view_similarity(query, index, int(row)) for row in rows],
            colour[rows],
            np.log1p(inliers),
            text_feature[rows],
            aligned,
            patches,
            index.colours[rows] @ centre_colour(query),
        ]
    ).astype(np.float64)
    return CandidateSet(rows=rows, features=features, matches=tuple(match for _, _, match in verified))


def centre_colour(query: ImageFeatures) -> FloatArray:
    """The query's centre colour signature; its whole-crop one for features made without it."""
    return query.centre_colour if query.centre_colour.size else query.colour


def rows_to_verify(patches: NDArray[np.float64], have_patches: bool, count: int) -> NDArray[np.bool_]:
    """Which shortlisted rows get keypoint verification: the `count` with the highest patch similarity
    (ties in shortlist order), or all of them when there are no patch descriptors to rank by."""
    chosen = np.zeros(len(patches), dtype=bool)
    if not have_patches or count >= len(patches):
        chosen[:] = True
    else:
        chosen[np.argsort(-patches, kind="stable")[:count]] = True
    return chosen


def vote(
    sets: Sequence[CandidateSet], model: FusionModel, catalog_size: int
) -> tuple[NDArray[np.float64], float]:
    """Average each crop's probabilities over (catalog rows, unknown)."""
    totals = np.zeros(catalog_size, dtype=np.float64)
    unknown = 0.0
    for candidates in sets:
        probabilities, p_unknown = model.probabilities(candidates.features)
        totals[candidates.rows] += probabilities
        unknown += p_unknown
    count = max(1, len(sets))
    return totals / count, unknown / count


@dataclass(frozen=True, slots=True)
class PrintEvidence:
    """Whether the SKU's own print was seen (what auto-approval needs), and why, in words a reviewer
    can check against the crop."""

    seen: bool
    reason: str
    # Not merely unseen: the print matched says the pack is another product (a sibling variant).
    contradicted: bool = False
    # The brand marked the product's own print and no crop matched it: never approved, whatever the
    # brand's print-evidence setting (the marks are its explicit request).
    own_print_unseen: bool = False
    # Some crop matched OWN_PRINT_CONFIRMING_INLIERS inside the marks, and the print was seen in the
    # SKU's colours with nothing contradicting it: approved from `LinkThresholds.own_print_approve`.
    own_print_confirmed: bool = False

    @property
    def vetoed(self) -> bool:
        """Never approved, whatever the confidence and the brand's settings (`decide`)."""
        return self.contradicted or self.own_print_unseen


def print_evidence(
    sets: Sequence[CandidateSet], row: int, *, own_print: OwnPrintMarks = OwnPrintMarks.NONE
) -> PrintEvidence:
    """Some crop read the SKU's catalog text or matched its print with enough verified keypoints, and
    the print it matched is in the SKU's colours: over the track's crops, at least
    MIN_COLOUR_AGREEMENT of the coloured inlier pairs have the packshot's hue (a sibling variant in
    other ink fails in every crop; pooling keeps one off frame, a colour cast or a smear, from
    outvoting the others). With `own_print` marks (the part of the pack only this product prints),
    some crop must also match OWN_PRINT_INLIERS keypoints inside them: the family's print alone is a
    sibling's as much as this product's."""
    seen: list[str] = []
    foreign: list[str] = []
    coloured = same = own = 0
    for position, candidates in enumerate(sets):
        hits = np.flatnonzero(candidates.rows == row)
        if not hits.size:
            continue
        signals = candidates.features[int(hits[0])]
        match = candidates.match(int(hits[0]))
        foreign += [word for word in match.foreign_words if word not in foreign]
        coloured += match.coloured_pairs
        same += match.same_colour_pairs
        own = max(own, match.own_print_inliers)
        # The print match's own inliers: the evidence is its, whatever the signals were computed from.
        inliers = match.inliers
        if inliers >= PRINT_EVIDENCE_INLIERS:
            seen.append(f"crop {position + 1}: its print matched ({inliers} keypoints)")
        elif signals[_TEXT_COLUMN] > 0:
            seen.append(f"crop {position + 1}: OCR read words of its catalog text")
    colour = f"{same} of {coloured} coloured keypoint matches in its hue"
    if foreign:
        named = ", ".join(f"'{word}'" for word in foreign)
        return PrintEvidence(
            False,
            f"its print reads {named}, which its catalog text lacks (another variant?)",
            contradicted=True,
        )
    if coloured >= MIN_COLOURED_PAIRS and same < MIN_COLOUR_AGREEMENT * coloured:
        return PrintEvidence(
            False, f"its print matched in other colours: {colour} (a sibling variant?)", contradicted=True
        )
    found = "; ".join(seen) + (f"; {colour}" if coloured >= MIN_COLOURED_PAIRS else "")
    return _judged_with_marks(found if seen else "", own, own_print)


def _judged_with_marks(found: str, own: int, marks: OwnPrintMarks) -> PrintEvidence:
    """Print evidence (`found`: what was seen, "" for nothing) with the brand's own-print marks, if
    any: `own` inliers matched inside them in the best crop."""
    if marks is OwnPrintMarks.UNPLACED:
        return PrintEvidence(
            False,
            "its own print is marked on an image that is not an indexed packshot (missing, removed, "
            "unreadable or a scene): nothing can match the marks until they are set on its packshot",
            own_print_unseen=True,
        )
    unseen = marks is OwnPrintMarks.PLACED and own < OWN_PRINT_INLIERS
    if not found:
        reason = "its print was not seen (no catalog text read, too few keypoints)"
        return PrintEvidence(False, reason, own_print_unseen=unseen)
    if marks is OwnPrintMarks.NONE:
        return PrintEvidence(True, found)
    marked = f"{own} keypoints matched in the part of its print marked as its own"
    if unseen:
        return PrintEvidence(
            False,
            f"{found}; but only {marked} (needs {OWN_PRINT_INLIERS}: a sibling?)",
            own_print_unseen=True,
        )
    if own >= OWN_PRINT_CONFIRMING_INLIERS:
        return PrintEvidence(True, f"{found}; {marked}, which confirms it", own_print_confirmed=True)
    return PrintEvidence(True, f"{found}; {marked}")


def result_from_probabilities(
    probabilities: NDArray[np.float64],
    unknown: float,
    index: CatalogIndex,
    thresholds: LinkThresholds,
    crops_used: int,
    inputs: DecisionInputs,
) -> LinkResult:
    """The link's result: its top candidates, decided from `inputs` (whose confidence is the top
    candidate's) under `thresholds`."""
    order = np.argsort(-probabilities, kind="stable")[:TOP_K]
    candidates = tuple(
        SkuCandidate(index.products[row].sku, index.products[row].title, round(float(probabilities[row]), 4))
        for row in order
        if probabilities[row] > 0
    )
    outcome = decided(inputs, thresholds)
    if outcome is None:
        raise LinkingError("the link needs its packshot-only confidence and was not given it")
    return LinkResult(
        candidates=candidates,
        sku=candidates[0].sku if candidates and outcome.decision is not Decision.UNKNOWN else None,
        confidence=candidates[0].confidence if candidates else 0.0,
        unknown_probability=round(unknown, 4),
        decision=outcome.decision,
        index_version=index.version,
        crops_used=crops_used,
        evidence=outcome.evidence,
        contradicted=inputs.contradicted,
        approval_level=outcome.level,
        inputs=inputs,
    )


@dataclass(slots=True)
class Linker:
    """Everything linking needs, loaded once per worker: the index, the feature extractor, the model."""

    index: CatalogIndex
    extractor: Extractor
    model: FusionModel
    shortlist: ShortlistConfig = field(default_factory=ShortlistConfig)

    scorer: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.scorer = scorer_id(self.model, self.shortlist)
        if self.index.feature_signature != self.extractor.signature:
            raise LinkingError(
                f"catalog index {self.index.version} was built with features {self.index.feature_signature}, "
                f"this extractor computes {self.extractor.signature}; rebuild the index"
            )
        # Built now, not by the first link to need it: a worker's first approval should not wait for it.
        self.index.packshots_only()

    def track_features(self, images: Sequence[Image]) -> list[ImageFeatures]:
        """Each crop's features, best crop first. OCR reads only the best crop and the others reuse its
        words: it is 80 % of a crop's feature time (≈ 280 ms), and on grocery-dev's pretend two-photo
        tracks reading the second photo too changed no answer (BENCHMARKS.md, Linking)."""
        features: list[ImageFeatures] = []
        words: tuple[str, ...] | None = None
        for image in images:
            crop = self.extractor.query_features(image, words=words)
            words = crop.words if words is None else words
            features.append(crop)
        return features

    def track_candidates(self, images: Sequence[Image]) -> list[CandidateSet]:
        """Each crop's candidates, best crop first."""
        return [candidate_set(crop, self.index, self.shortlist) for crop in self.track_features(images)]

    def link_track(
        self, crops: Sequence[Image | CropLike], thresholds: LinkThresholds | None = None
    ) -> LinkResult:
        """Link a placement from its best crops (BGR uint8, best first). Unusable crops (tiny, wrong
        type) are ignored; a track with none left comes out as an unknown product with no candidates."""
        thresholds = thresholds or LinkThresholds()
        images = []
        for position, crop in enumerate(crops):
            array = crop if isinstance(crop, np.ndarray) else crop.image
            checked = check_image(array, f"crop #{position}")
            if not isinstance(checked, ImageProblem):
                images.append(checked)
        features = self.track_features(images)
        verifications = [QueryVerifications.of(crop) for crop in features]
        sets = [
            candidate_set(crop, self.index, self.shortlist, verifications=verified)
            for crop, verified in zip(features, verifications, strict=True)
        ]
        probabilities, unknown = vote(sets, self.model, len(self.index))
        if not sets:
            unknown = 1.0
        top = int(np.argmax(probabilities)) if probabilities.size else -1
        seen = print_evidence(sets, top, own_print=marks_of(self.index, top) if sets else OwnPrintMarks.NONE)
        inputs = DecisionInputs(
            # Rounded as the result reports it, so a link just under the level cannot slip past.
            confidence=round(float(probabilities[top]), 4) if sets else 0.0,
            print_evidence=seen.seen,
            reason=seen.reason,
            contradicted=seen.contradicted,
            own_print_unseen=seen.own_print_unseen,
            own_print_confirmed=seen.own_print_confirmed,
            scenes=self.index.packshots_only() is not self.index,
            scorer=self.scorer,
        )
        # The second opinion matters only to a link the other rules would approve.
        if inputs.asks_packshots(thresholds):
            inputs = replace(
                inputs, packshot_confidence=self.packshot_confidence(features, verifications, top)
            )
        return result_from_probabilities(probabilities, unknown, self.index, thresholds, len(sets), inputs)

    def packshot_confidence(
        self, features: Sequence[ImageFeatures], verifications: Sequence[QueryVerifications], row: int
    ) -> float | None:
        """The probability of SKU `row` were the catalog its packshots alone; None when it is (no
        scene images). A scene ranks by its appearance, and a shot of the shelf it was taken at looks
        like it whichever product is held there: with its keypoints still counted, a shop photo of
        Yoggi Strawberry taken at the Vanilla shelf lifted a left-out Vanilla from 0.70 on packshots to
        0.997 as Strawberry, approved (BENCHMARKS.md, End to end). So approval needs the packshots'
        agreement. The packshots verified for the whole catalog are reused, not verified again."""
        alone = self.index.packshots_only()
        if alone is self.index:
            return None
        sets = [
            candidate_set(crop, alone, self.shortlist, verifications=verified)
            for crop, verified in zip(features, verifications, strict=True)
        ]
        return packshot_probability(sets, self.model, alone, self.index.products[row].sku)


def packshot_probability(
    sets: Sequence[CandidateSet], model: FusionModel, alone: CatalogIndex, sku: str
) -> float:
    """The probability the catalog's packshots alone give `sku`, from a track's candidate sets made
    against them (`alone`, `CatalogIndex.packshots_only`), rounded as a link's confidence is; 0 for a
    SKU shown only in scenes: no packshot vouches for it."""
    skus = alone.skus
    if sku not in skus:
        return 0.0
    probabilities, _ = vote(sets, model, len(alone))
    return round(float(probabilities[skus.index(sku)]), 4)


def link_track(
    crops: Sequence[Image | CropLike], linker: Linker, thresholds: LinkThresholds | None = None
) -> LinkResult:
    """Module-level entry point for the pipeline: `link_track(placement.crops, linker, brand_thresholds)`."""
    return linker.link_track(crops, thresholds)
