"""Local features (RootSIFT) and geometric verification: how many matches agree on one homography.

Packaging carries logos and print; a RANSAC-verified inlier count separates two cartons of the same
brand that a global embedding confuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from tagger.arrays import FloatArray, Image
from tagger.linking.integer_matmul import LEFT_MAX, integer_matmul

# Descriptors as extracted (float32) or rounded to half precision (RootSIFT values lie in [0, 1]).
Descriptors = NDArray[np.float16] | NDArray[np.float32]

MIN_MATCHES_FOR_RANSAC = 6
RATIO_TEST = 0.8
# Lowe's ratio on squared distances as a fraction of integers (0.8² = 16/25), so the test on the
# quantized descriptors' integer distances is exact.
RATIO_SQUARED = Fraction(RATIO_TEST).limit_denominator(1000) ** 2
RANSAC_REPROJECTION_PX = 8.0
# How much a verified homography may stretch one direction against the other where its inliers are
# (`plausible_view`). A print seen at an angle is foreshortened by 2 at 60 degrees, and SIFT stops
# matching about there: the right pack's views on the episode benchmark are foreshortened by 1.0-2.0.
# A shop photo of another edition of the pack (the same logo and name, laid out otherwise) fitted at
# 4.1 with 13 inliers, a match the ranking needs (at a bar of 4 grocery-dev's packaged photos lost top-5
# 0.970 -> 0.963); several copies of a print collapsed
# onto one strip of the packshot fit at 10 to several hundred (BENCHMARKS.md, End to end). The bar
# sits between those.
MAX_FORESHORTENING = 8.0
# How far from a similarity's prediction a match may be and still be fitted by the homography refined
# from it: a print seen at an angle departs from a similarity by tens of pixels across a carton.
GUIDED_MATCH_PX = 4 * RANSAC_REPROJECTION_PX
# Pairs of matches tried for that similarity.
SIMILARITY_HYPOTHESES = 500


# Matching runs on RootSIFT descriptors quantized to 7 bits (values lie in [0, 1], so 0-127): the
# query side as uint8, the catalog side as int8, the operand types the CPU's byte dot-product
# instructions take. 7 bits, not 8, on the query side because CPUs without VNNI add pairs of byte
# products in saturating 16-bit lanes (255 x 127 x 2 overflows; `integer_matmul.LEFT_MAX`): with
# 0-127 the product is exact on every CPU. Products of bytes are exact integers, so the matches are
# exactly the nearest neighbours among the quantized descriptors; against float32 descriptors most
# ratio-test matches on grocery-dev packshot pairs are the same ones (the rest sit on the ratio's
# edge), and the product costs a quarter of float32 BLAS's (BENCHMARKS.md, Linking).
DESCRIPTOR_LEVELS = LEFT_MAX


@dataclass(frozen=True, slots=True)
class QuantizedDescriptors:
    """Descriptors rounded to whole steps of 1/127 (uint8 for queries, int8 for candidates) and their
    squared lengths in steps² (int32, exact: at most 128 x 127² = 2,064,512)."""

    steps: NDArray[np.integer[Any]]
    squared_norms: NDArray[np.int32]

    def __post_init__(self) -> None:
        if self.steps.ndim != 2 or self.squared_norms.shape != (self.steps.shape[0],):
            raise ValueError(
                f"quantized descriptors need N x K steps and N squared norms, got {self.steps.shape} "
                f"and {self.squared_norms.shape}"
            )

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.steps.nbytes + self.squared_norms.nbytes)

    def copy(self) -> QuantizedDescriptors:
        return QuantizedDescriptors(self.steps.copy(), self.squared_norms.copy())


def _quantize(descriptors: Descriptors, dtype: type[np.integer[Any]]) -> QuantizedDescriptors:
    steps = np.multiply(descriptors, np.float32(DESCRIPTOR_LEVELS), dtype=np.float32)
    np.rint(steps, out=steps)
    np.clip(steps, 0, DESCRIPTOR_LEVELS, out=steps)  # RootSIFT lies in [0, 1]; anything else is clipped
    # Float32 sums of at most 128 squares of whole numbers ≤ 127 are exact (below 2^24).
    norms = np.einsum("ij,ij->i", steps, steps).astype(np.int32)
    return QuantizedDescriptors(steps.astype(dtype), norms)


def quantize_query(descriptors: Descriptors) -> QuantizedDescriptors:
    return _quantize(descriptors, np.uint8)


def quantize_candidate(descriptors: Descriptors) -> QuantizedDescriptors:
    return _quantize(descriptors, np.int8)


# A catalog image's descriptors as the index keeps them: quantized once, as candidates (see `compact`).
# Float arrays are still accepted (queries; indexes saved before format 4), quantized when matched.
KeypointDescriptors = Descriptors | QuantizedDescriptors


@dataclass(frozen=True, slots=True)
class LocalFeatures:
    """Keypoint positions (Kx2, in the original image's pixels) and RootSIFT descriptors (Kx128):
    float for a query, quantized for a catalog image (`compact`)."""

    points: FloatArray
    descriptors: KeypointDescriptors

    @classmethod
    def empty(cls) -> LocalFeatures:
        return cls(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32))

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def compact(self) -> LocalFeatures:
        """The same features as the catalog index keeps them: descriptors quantized as candidates.

        Quantizing a catalog image's descriptors at every match cost ≈ 0.46 ms per verified image on
        an AVX2 core (a fifth of verifying it), and the int8 steps take half the memory of float16.
        They are quantized from their float16 values, as every index before format 4 was matched, so
        the steps, and every match and link, are exactly what they were."""
        if isinstance(self.descriptors, QuantizedDescriptors):
            return self
        return LocalFeatures(self.points, quantize_candidate(self.descriptors.astype(np.float16)))


def extract_local_features(image: Image, *, upscale_to: int, max_features: int) -> LocalFeatures:
    """RootSIFT on the grey image; small images are upscaled first so small print still yields keypoints."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    factor = max(1.0, upscale_to / max(grey.shape))
    if factor > 1.0:
        grey = cv2.resize(grey, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    sift = cv2.SIFT.create(nfeatures=max_features)
    keypoints, descriptors = sift.detectAndCompute(grey, None)
    if descriptors is None or len(keypoints) == 0:
        return LocalFeatures.empty()
    # RootSIFT (Arandjelović & Zisserman 2012): Hellinger kernel, better matches for the same cost.
    descriptors = descriptors / (descriptors.sum(axis=1, keepdims=True) + 1e-7)
    root = np.sqrt(descriptors).astype(np.float32)
    points = (np.asarray([kp.pt for kp in keypoints], dtype=np.float32) / factor).astype(np.float32)
    return LocalFeatures(points, root)


def _no_points() -> FloatArray:
    return np.zeros((0, 2), np.float32)


@dataclass(frozen=True, slots=True)
class Verification:
    """RANSAC outcome: inlier count, the homography from query pixels to candidate pixels, and the
    inlier pairs (query and candidate pixels, row for row), which say where on the packshot the print
    matched (`tagger.linking.print_match`)."""

    inliers: int
    homography: NDArray[np.float64] | None
    query_points: FloatArray = field(default_factory=_no_points)
    candidate_points: FloatArray = field(default_factory=_no_points)


def ratio_test_matches(
    query: KeypointDescriptors, candidate: KeypointDescriptors
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Exact nearest neighbours of the 7-bit quantized RootSIFT descriptors with Lowe's ratio test, as
    one 8-bit matrix product. Pass a query quantized once (`quantize_query`) when matching it
    against many candidates, and candidates quantized once (`LocalFeatures.compact`, as the catalog
    index keeps them).

    |q - c|^2 = |q|^2 - (2 q.c - |c|^2), so the nearest candidate is the one with the largest
    "affinity" 2 q.c - |c|^2: two row-wise arg-maxima over one product find the two nearest, with no
    full distance matrix and no partial sort. Both sides share one step, so everything stays in
    integers (|affinity| < 2^23): no rounding anywhere, and no conversion of the product to floats."""
    if len(candidate) < 2 or len(query) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    query = query if isinstance(query, QuantizedDescriptors) else quantize_query(query)
    candidate = candidate if isinstance(candidate, QuantizedDescriptors) else quantize_candidate(candidate)
    affinity = integer_matmul(query.steps, candidate.steps.T)  # a fresh int32 array, ours to change
    affinity *= 2
    affinity -= candidate.squared_norms[None, :]
    rows = np.arange(len(query))
    best = affinity.argmax(axis=1)
    best_affinity = affinity[rows, best].astype(np.int64)
    affinity[rows, best] = np.iinfo(np.int32).min
    second_affinity = affinity.max(axis=1).astype(np.int64)
    best_squared = query.squared_norms - best_affinity
    second_squared = query.squared_norms - second_affinity
    ratio = RATIO_SQUARED
    keep = ratio.denominator * best_squared < ratio.numerator * second_squared
    return rows[keep].astype(np.int64), best[keep].astype(np.int64)


@dataclass(frozen=True, slots=True)
class MatchingQuery:
    """A query's keypoints ready to be verified against many candidates (quantized once)."""

    points: FloatArray
    descriptors: QuantizedDescriptors

    @classmethod
    def of(cls, local: LocalFeatures) -> MatchingQuery:
        if isinstance(local.descriptors, QuantizedDescriptors):
            # Quantized as a candidate (int8): the byte product takes its query side as uint8.
            raise ValueError("a catalog image's quantized descriptors cannot be matched as a query")
        return cls(local.points, quantize_query(local.descriptors))

    def __len__(self) -> int:
        return int(self.points.shape[0])


def verified_inliers(query: LocalFeatures, candidate: LocalFeatures) -> int:
    """Number of ratio-test matches consistent with one RANSAC homography (0 when too few to fit)."""
    return verify(query, candidate).inliers


def verify(query: LocalFeatures | MatchingQuery, candidate: LocalFeatures) -> Verification:
    """Ratio-test matching then a RANSAC homography (query -> candidate) that must be a plausible view
    of the candidate's print (`plausible_view`).

    Several copies of a print in the query (a shelf of cartons, a crate seen from above) all match the
    same candidate keypoints, and a homography can collapse the copies onto one place and count all
    of them. Such a fit is not a view; the matches are fitted once more, on one copy: a similarity
    (rotation, one scale, shift), which cannot squeeze one direction alone, finds the copy with the
    most support, and the homography is fitted to the matches near where it puts them."""
    if len(query) < 2 or len(candidate) < 2:
        return Verification(0, None)
    query_rows, candidate_rows = ratio_test_matches(query.descriptors, candidate.descriptors)
    source, target = query.points[query_rows], candidate.points[candidate_rows]
    fitted = _fit_view(source, target)
    if fitted is not None:
        return fitted
    near_one_copy = _near_a_similarity(source, target, candidate_rows)
    refitted = _fit_view(source[near_one_copy], target[near_one_copy])
    return Verification(0, None) if refitted is None else refitted


def _near_a_similarity(
    source: FloatArray, target: FloatArray, candidate_rows: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """The matches within GUIDED_MATCH_PX of where the best-supported similarity of `source` ->
    `target` puts them (none when no similarity fits); `candidate_rows` says which candidate keypoint
    each match is.

    A RANSAC of our own over pairs of matches (a similarity is z -> a z + b in complex numbers, fixed by
    two), since support is counted in distinct candidate keypoints: a similarity that shrinks every
    copy onto one spot takes a few matches of each copy, all on the same few keypoints, and counted
    match by match that beat one carton's support on a shelf of six or more. One copy matches each
    keypoint once."""
    count = len(source)
    if count < MIN_MATCHES_FOR_RANSAC:
        return np.zeros(count, dtype=bool)
    query = source[:, 0].astype(np.float64) + 1j * source[:, 1].astype(np.float64)
    candidate = target[:, 0].astype(np.float64) + 1j * target[:, 1].astype(np.float64)
    # Seeded: a pair of images always gets the same answer.
    first, second = np.random.default_rng(0).integers(0, count, size=(2, SIMILARITY_HYPOTHESES))
    query_step = query[second] - query[first]
    # Pairs too close on the query fix no scale or turn worth trusting.
    usable = np.abs(query_step) > 2 * RANSAC_REPROJECTION_PX
    scale_turn = np.where(usable, (candidate[second] - candidate[first]) / np.where(usable, query_step, 1), 0)
    shift = candidate[first] - scale_turn * query[first]
    residuals = np.abs(scale_turn[:, None] * query[None, :] + shift[:, None] - candidate[None, :])
    hypothesis, match = np.nonzero((residuals <= RANSAC_REPROJECTION_PX) & usable[:, None])
    held = np.zeros((SIMILARITY_HYPOTHESES, int(candidate_rows.max()) + 1), dtype=bool)
    held[hypothesis, candidate_rows[match]] = True
    support = held.sum(axis=1)
    best = int(support.argmax())
    if support[best] < MIN_MATCHES_FOR_RANSAC:
        return np.zeros(count, dtype=bool)
    return np.asarray(residuals[best] <= GUIDED_MATCH_PX)


def _fit_view(source: FloatArray, target: FloatArray) -> Verification | None:
    """The RANSAC homography of matched points `source` -> `target` and its inliers (none when there
    are too few matches or no fit); None when the fit is no plausible view of the print."""
    if len(source) < MIN_MATCHES_FOR_RANSAC:
        return Verification(0, None)
    # OpenCV's USAC (PROSAC sampling, SPRT early rejection, local optimisation): the same inlier counts
    # as classic RANSAC on grocery-dev pairs at about a twentieth of the time (BENCHMARKS.md, Linking);
    # its random state is fixed, so a pair always gets the same answer.
    homography, mask = cv2.findHomography(source, target, cv2.USAC_DEFAULT, RANSAC_REPROJECTION_PX)
    if mask is None or homography is None:
        return Verification(0, None)
    inlier = mask.ravel().astype(bool)
    matrix = np.asarray(homography, dtype=np.float64)
    if not plausible_view(matrix, np.asarray(source[inlier], dtype=np.float64)):
        return None
    return Verification(
        int(inlier.sum()),
        matrix,
        np.asarray(source[inlier], dtype=np.float32),
        np.asarray(target[inlier], dtype=np.float32),
    )


def plausible_view(homography: NDArray[np.float64], points: NDArray[np.float64]) -> bool:
    """Whether `homography` (query -> candidate) could be the candidate's print seen by a camera where
    its inliers (`points`, query pixels) are: every point in front of the camera (one sign of the
    projective denominator), not mirrored, and foreshortened by at most MAX_FORESHORTENING (the ratio
    of the local linear map's singular values at the points' centroid).

    A crop showing several copies of a print (a shelf of cartons, a crate seen from above) lets
    RANSAC fit a homography that squeezes the crop onto one strip of the packshot, where every copy's
    matches land on the same few places: 118 "inliers" of God Morgon Orange's packshot in a crop of
    Orange & Red Grapefruit cartons, 17 of them inside Orange's own-print marks, with the crop's 331 px
    across mapped onto 27 px (BENCHMARKS.md, End to end). How squeezed a collapse looks grows with the
    copies' spacing on the candidate image over RANSAC's tolerance (8 px): copies closer than about 64
    candidate pixels apart could collapse within the bar; a packshot's carton is wider than that."""
    if len(points) == 0:
        return False
    denominators = points @ homography[2, :2] + homography[2, 2]
    if not (np.all(denominators > 0) or np.all(denominators < 0)):
        return False
    centre = points.mean(axis=0)
    scale = float(centre @ homography[2, :2] + homography[2, 2])
    mapped = (homography[:2, :2] @ centre + homography[:2, 2]) / scale
    jacobian = (homography[:2, :2] - np.outer(mapped, homography[2, :2])) / scale
    if np.linalg.det(jacobian) <= 0:
        return False
    largest, smallest = np.linalg.svd(jacobian, compute_uv=False)
    return bool(largest <= MAX_FORESHORTENING * smallest)
