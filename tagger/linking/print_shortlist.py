"""Which catalog rows a whole-frame print search tries when the catalog is too large to try them all.

A whole-frame look (`tagger.linking.locate`) matches the frame's keypoints to every packshot: about
0.85 ms a catalog row on an AVX-512 VNNI core, so 70 ms for 81 SKUs but 8.6 s for 10,000, and an
episode takes dozens of looks. Above a row budget a look first ranks the rows by a vote and searches
only the best-voted ones.

The vote is an inverted file. Every catalog descriptor is filed under its leaf of a two-level k-means
tree over RootSIFT; a frame's descriptor is compared, exactly, with the catalog descriptors filed under
its own leaf, and votes for the rows whose descriptors there are about as near as the nearest (within
Lowe's ratio of it), provided there are few of them: a descriptor many packshots share (a glyph, a
barcode's bars) says nothing and gives no vote, one a brand's siblings share votes for each of them.
A row's score is how many frame descriptors voted for it. Only the leaf's members are compared, so a
look costs a few milliseconds whatever the catalog's size, plus the exact search of the shortlist.

Everything is integer arithmetic on the 7-bit descriptor steps the matcher already uses (byte
products for the k-means assignments, rounded integer means for the centroids, integer distances and
counts for the vote), so a catalog gets the same tree and a frame the same shortlist on every CPU.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tagger.linking.integer_matmul import integer_matmul
from tagger.linking.keypoints import RATIO_SQUARED, QuantizedDescriptors, quantize_candidate

# Each leaf of the tree holds about this many catalog descriptors: finer leaves separate more pairs of
# matching descriptors (each side filed under a neighbouring leaf), coarser ones cost more comparisons.
DESCRIPTORS_PER_LEAF = 16
MIN_BRANCHING, MAX_BRANCHING = 2, 256
# k-means learns its centroids from at most this many descriptors (a 10,000-SKU catalog has about 6
# million); every descriptor is then filed under its nearest leaf.
TRAINING_SAMPLE = 60_000
KMEANS_ROUNDS = 6
# Rows at a time through one byte product when filing descriptors under their nearest centroid.
ASSIGN_CHUNK = 32_768
# A frame descriptor near more distinct catalog descriptors than this (within the ratio of its nearest)
# names no product and gives no vote (on the episode benchmark, 4 kept every located product among the
# best 7 of 81 rows).
MAX_VOTES_PER_DESCRIPTOR = 4
# Comparisons (frame descriptor, catalog entry) at a time: bounds the temporary arrays (~1 KB each)
# whatever the leaves hold.
VOTE_COMPARISONS = 65_536

IntArray = NDArray[np.int64]
Steps = NDArray[np.uint8]
Centroids = NDArray[np.int8]


def nearest_centroid(steps: Steps, centroids: Centroids) -> IntArray:
    """Each row's nearest centroid, exactly (the largest 2 x.c - |c|^2; ties to the lower index)."""
    wide = centroids.astype(np.int32)
    norms = np.einsum("ij,ij->i", wide, wide)
    right = np.ascontiguousarray(centroids.T)
    nearest = np.empty(steps.shape[0], dtype=np.int64)
    for start in range(0, steps.shape[0], ASSIGN_CHUNK):
        affinity = integer_matmul(steps[start : start + ASSIGN_CHUNK], right)
        affinity *= 2
        affinity -= norms[None, :]
        nearest[start : start + ASSIGN_CHUNK] = affinity.argmax(axis=1)
    return nearest


def integer_kmeans(steps: Steps, k: int, rng: np.random.Generator) -> Centroids:
    """Up to k centroids (int8 steps, 0-127) of `steps`: seeded distinct rows to start, then rounds of
    exact assignment and rounded integer means (an emptied centroid stays where it was)."""
    if steps.shape[0] == 0 or k <= 0:
        return np.zeros((0, steps.shape[1]), dtype=np.int8)
    k = min(k, steps.shape[0])
    centroids = steps[np.sort(rng.choice(steps.shape[0], size=k, replace=False))].astype(np.int8)
    for _ in range(KMEANS_ROUNDS):
        assigned = nearest_centroid(steps, centroids)
        counts = np.bincount(assigned, minlength=k)
        members = np.flatnonzero(counts)
        order = np.argsort(assigned, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[members]
        sums = np.add.reduceat(steps[order].astype(np.int64), starts, axis=0)
        sizes = counts[members, None]
        updated = centroids.copy()
        updated[members] = ((2 * sums + sizes) // (2 * sizes)).astype(np.int8)  # rounded half up
        if np.array_equal(updated, centroids):
            break
        centroids = updated
    return centroids


@dataclass(frozen=True, slots=True, eq=False)
class WordTree:
    """Two levels of k-means centroids: a descriptor's leaf is its nearest top centroid's nearest child
    (leaf number `top * branching + child`)."""

    branching: int
    top: Centroids
    children: tuple[Centroids, ...]

    @property
    def leaves(self) -> int:
        return max(1, int(self.top.shape[0])) * self.branching

    @classmethod
    def learn(cls, steps: Steps, branching: int, seed: int = 0) -> WordTree:
        rng = np.random.default_rng(seed)
        sample = steps
        if steps.shape[0] > TRAINING_SAMPLE:
            sample = steps[np.sort(rng.choice(steps.shape[0], size=TRAINING_SAMPLE, replace=False))]
        top = integer_kmeans(sample, branching, rng)
        node = nearest_centroid(sample, top) if top.shape[0] else np.zeros(0, np.int64)
        children = tuple(integer_kmeans(sample[node == n], branching, rng) for n in range(top.shape[0]))
        return cls(branching, top, children)

    def leaves_of(self, steps: Steps) -> IntArray:
        leaf = np.zeros(steps.shape[0], dtype=np.int64)
        if steps.shape[0] == 0 or self.top.shape[0] == 0:
            return leaf
        node = nearest_centroid(steps, self.top)
        for n in np.unique(node):
            members = np.flatnonzero(node == n)
            child = self.children[n]
            nearest = nearest_centroid(steps[members], child) if child.shape[0] else 0
            leaf[members] = n * self.branching + nearest
        return leaf


@dataclass(frozen=True, slots=True)
class ImageRows:
    """One catalog image's descriptors (`steps[start:stop]` of the shortlist's column) and the catalog
    rows that use it (two SKUs may share an image)."""

    start: int
    stop: int
    rows: tuple[int, ...]


@dataclass(frozen=True, slots=True, eq=False)
class PrintShortlist:
    """A catalog's descriptors (`steps`, one column for all images, int8 steps 0-127, and their squared
    lengths) and its entries filed by leaf: entry e is descriptor `entry_step[e]` of row
    `entry_owner[e]`, and leaf l holds entries `leaf_starts[l]:leaf_starts[l + 1]`. The column may be
    the index store's own memory-mapped file (`load`): only the tree and the entries are the
    shortlist's."""

    rows: int
    tree: WordTree
    leaf_starts: IntArray
    entry_step: NDArray[np.int32]  # a column position: 4 bytes an entry (2 billion descriptors)
    entry_owner: NDArray[np.int32]
    steps: NDArray[Any]
    squared_norms: NDArray[np.int32]

    @classmethod
    def build(
        cls, steps: NDArray[Any], squared_norms: NDArray[np.int32], images: Sequence[ImageRows], rows: int
    ) -> PrintShortlist:
        """The shortlist of a catalog whose descriptors are `steps` (the images' rows concatenated)."""
        if steps.ndim != 2 or squared_norms.shape != (steps.shape[0],):
            raise ValueError(f"unusable descriptor column {steps.shape} with {squared_norms.shape} norms")
        entry_step = np.concatenate(
            [np.arange(image.start, image.stop, dtype=np.int32) for image in images for _ in image.rows]
            or [np.zeros(0, np.int32)]
        )
        entry_owner = np.concatenate(
            [np.full(image.stop - image.start, row, np.int32) for image in images for row in image.rows]
            or [np.zeros(0, np.int32)]
        )
        # Catalog steps are int8 in 0-127: the same values as the byte product's unsigned left operand.
        unsigned = _unsigned(steps)
        branching = int(
            np.clip(np.ceil(np.sqrt(steps.shape[0] / DESCRIPTORS_PER_LEAF)), MIN_BRANCHING, MAX_BRANCHING)
        )
        tree = WordTree.learn(unsigned, branching)
        leaf = tree.leaves_of(unsigned)[entry_step] if entry_step.size else np.zeros(0, np.int64)
        order = np.argsort(leaf, kind="stable")
        starts = np.concatenate([[0], np.cumsum(np.bincount(leaf, minlength=tree.leaves))]).astype(np.int64)
        return cls(rows, tree, starts, entry_step[order], entry_owner[order], steps, squared_norms)

    def save(self, folder: Path) -> None:
        """Write the tree and the entries (not the descriptor column: the store keeps it) to `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        width = self.tree.top.shape[1] if self.tree.top.ndim == 2 else 128
        children = np.zeros((self.tree.top.shape[0], self.tree.branching, width), np.int8)
        counts = np.zeros(self.tree.top.shape[0], np.int64)
        for node, child in enumerate(self.tree.children):
            children[node, : child.shape[0]] = child
            counts[node] = child.shape[0]
        arrays = {
            "top": self.tree.top,
            "children": children,
            "child_counts": counts,
            "leaf_starts": self.leaf_starts,
            "entry_step": self.entry_step,
            "entry_owner": self.entry_owner,
        }
        for name, values in arrays.items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(values), allow_pickle=False)
        (folder / "shortlist.json").write_text(
            json.dumps({"rows": self.rows, "branching": self.tree.branching}), encoding="utf-8"
        )

    @classmethod
    def load(
        cls, folder: Path, steps: NDArray[Any], squared_norms: NDArray[np.int32], rows: int
    ) -> PrintShortlist:
        """A saved shortlist over the descriptor column it was built on, for a catalog of `rows` rows;
        raises ValueError when the files are missing, unreadable or do not fit together."""
        try:
            meta = json.loads((folder / "shortlist.json").read_text(encoding="utf-8"))
            saved_rows, branching = int(meta["rows"]), int(meta["branching"])

            def read(name: str, *, mapped: bool = False) -> NDArray[Any]:
                array: NDArray[Any] = np.load(
                    folder / f"{name}.npy", mmap_mode="r" if mapped else None, allow_pickle=False
                )
                return array

            top, children, counts = read("top"), read("children"), read("child_counts")
            starts = read("leaf_starts")
            entry_step, entry_owner = read("entry_step", mapped=True), read("entry_owner", mapped=True)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"print shortlist in {folder} is unreadable: {error}") from error
        width = steps.shape[1] if steps.ndim == 2 else -1
        nodes = top.shape[0] if top.ndim == 2 else -1
        if (
            saved_rows != rows
            or not MIN_BRANCHING <= branching <= MAX_BRANCHING
            or top.dtype != np.int8
            or top.shape != (nodes, width)
            or children.dtype != np.int8
            or children.shape != (nodes, branching, width)
            or counts.shape != (nodes,)
            or (nodes > 0 and (int(counts.min()) < 0 or int(counts.max()) > branching))
            or starts.shape != (max(1, nodes) * branching + 1,)
            or starts.dtype != np.int64
            or int(starts[0]) != 0
            or bool(np.any(np.diff(starts) < 0))
            or int(starts[-1]) != entry_step.shape[0]
            or entry_owner.shape != entry_step.shape
            or entry_step.dtype != np.int32
            or entry_owner.dtype != np.int32
            or (entry_step.size and not 0 <= int(entry_step.min()) <= int(entry_step.max()) < steps.shape[0])
            or (entry_owner.size and not 0 <= int(entry_owner.min()) <= int(entry_owner.max()) < rows)
        ):
            raise ValueError(f"print shortlist in {folder} does not fit its catalog")
        tree = WordTree(branching, top, tuple(children[n, : int(counts[n])] for n in range(nodes)))
        return cls(rows, tree, starts, entry_step, entry_owner, steps, squared_norms)

    @property
    def own_bytes(self) -> int:
        """Memory of the tree and the entries (the descriptor column may be the store's file)."""
        tree = self.tree.top.nbytes + sum(child.nbytes for child in self.tree.children)
        return int(tree + self.leaf_starts.nbytes + self.entry_step.nbytes + self.entry_owner.nbytes)

    def votes(self, query: QuantizedDescriptors) -> IntArray:
        """Per catalog row, how many of the frame's descriptors (query steps) voted for it."""
        tally = np.zeros(self.rows, dtype=np.int64)
        if len(query) == 0 or self.rows == 0:
            return tally
        leaf = self.tree.leaves_of(_unsigned(query.steps))
        comparisons = np.cumsum(self.leaf_starts[leaf + 1] - self.leaf_starts[leaf])
        start = 0
        while start < len(query):
            # Frame descriptors at a time, up to VOTE_COMPARISONS comparisons (at least one descriptor).
            done = int(comparisons[start - 1]) if start else 0
            stop = max(start + 1, int(np.searchsorted(comparisons, done + VOTE_COMPARISONS, side="right")))
            chunk = slice(start, stop)
            self._vote(query.steps[chunk], query.squared_norms[chunk], leaf[chunk], tally)
            start = stop
        return tally

    def _vote(self, steps: NDArray[Any], norms: NDArray[np.int32], leaf: IntArray, tally: IntArray) -> None:
        first, sizes = self.leaf_starts[leaf], self.leaf_starts[leaf + 1] - self.leaf_starts[leaf]
        asking = np.flatnonzero(sizes)
        if asking.size == 0:
            return
        first, sizes = first[asking], sizes[asking]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        total = int(sizes.sum())
        # Every (frame descriptor, catalog entry of its leaf) pair, grouped by frame descriptor.
        member = np.repeat(first - offsets, sizes) + np.arange(total)
        asker = np.repeat(asking, sizes)
        step = self.entry_step[member]
        products = np.einsum(
            "ij,ij->i", steps[asker].astype(np.int32), self.steps[step].astype(np.int32), dtype=np.int64
        )
        squared = norms[asker].astype(np.int64) - 2 * products + self.squared_norms[step]
        nearest = np.repeat(np.minimum.reduceat(squared, offsets), sizes)
        ratio = RATIO_SQUARED
        # Within Lowe's ratio of the nearest: d^2 <= d_nearest^2 / 0.8^2, in integers.
        near = ratio.numerator * squared <= ratio.denominator * nearest
        # How many distinct catalog descriptors are that near: an image several SKUs share is one
        # descriptor (its variants all get the vote), a glyph many packs print is many (no vote).
        column = np.int64(max(1, self.steps.shape[0]))
        distinct = np.unique(asker[near] * column + step[near]) // column
        crowded = np.bincount(distinct, minlength=len(steps)) > MAX_VOTES_PER_DESCRIPTOR
        near &= ~crowded[asker]
        # One vote per (frame descriptor, row), however many of the row's entries are near.
        pairs = np.unique(asker[near] * self.rows + self.entry_owner[member[near]])
        tally += np.bincount(pairs % self.rows, minlength=self.rows)

    def shortlist(self, query: QuantizedDescriptors, size: int) -> list[int]:
        """The `size` best-voted rows (ties to the lower row), in catalog order."""
        best = np.argsort(-self.votes(query), kind="stable")[:size]
        return sorted(int(row) for row in best)


_lock = threading.Lock()
_built: OrderedDict[str, PrintShortlist] = OrderedDict()
_building: dict[str, threading.Lock] = {}
# Indexes whose shortlist a process keeps (a worker links several brands' jobs).
KEPT_SHORTLISTS = 2


def print_shortlist_for(index: Any) -> PrintShortlist:
    """The shortlist of a `CatalogIndex`: the one its store saved (memory-mapped, shared by processes),
    or one built on first use and kept for the index (an index built in memory, or saved before
    shortlists were; the build copies the descriptor column, ~770 MB at 10,000 SKUs)."""
    saved = getattr(index, "print_shortlist", None)
    if isinstance(saved, PrintShortlist):
        return saved
    # The version names the products, not their order; the shortlist's rows are positions.
    order = hashlib.sha256("\n".join(product.sku for product in index.products).encode()).hexdigest()
    key = f"{index.version}/{order}"
    with _lock:
        if key in _built:
            _built.move_to_end(key)
            return _built[key]
        building = _building.setdefault(key, threading.Lock())
    with building:  # one build per index, however many link threads ask at once
        with _lock:
            if key in _built:
                return _built[key]
        built = shortlist_of(index)
        with _lock:
            _built[key] = built
            _building.pop(key, None)
            while len(_built) > KEPT_SHORTLISTS:
                _built.popitem(last=False)
    return built


def shortlist_of(index: Any) -> PrintShortlist:
    """Build the shortlist of a `CatalogIndex` over its images' descriptors in the order the index
    store keeps them (sorted by digest), so a saved index's column is the same one. Only packshots
    vote: a scene's keypoints (a shop photo's shelf) would vote for its SKU wherever that shelf is seen,
    and the locator searches packshots only (`locate.locate_products`). A scene stays in the column,
    owned by no row, so the column is still the store's; the feature recipe extracts no keypoints from
    scenes, so it adds no descriptors there either."""
    digests = sorted(index.image_features)
    owners: dict[str, list[int]] = {digest: [] for digest in digests}
    for row, product in enumerate(index.products):
        for digest in product.image_digests:
            voting = digest in index.packshot_digests
            if voting and row not in owners[digest]:  # an image listed twice by one product is one image
                owners[digest].append(row)
    columns: list[QuantizedDescriptors] = []
    images: list[ImageRows] = []
    start = 0
    for digest in digests:
        quantized = index.image_features[digest].local.descriptors
        if not isinstance(quantized, QuantizedDescriptors):  # an index saved before format 4
            quantized = quantize_candidate(np.asarray(quantized, dtype=np.float16))
        columns.append(quantized)
        images.append(ImageRows(start, start + len(quantized), tuple(owners[digest])))
        start += len(quantized)
    steps = np.concatenate([item.steps for item in columns] or [np.zeros((0, 128), np.int8)])
    norms = np.concatenate([item.squared_norms for item in columns] or [np.zeros(0, np.int32)])
    return PrintShortlist.build(steps, norms.astype(np.int32), images, len(index.products))


def _unsigned(steps: NDArray[Any]) -> Steps:
    """Steps (int8 or uint8, 0-127) as the byte product's unsigned left operand: the same values."""
    if steps.dtype == np.int8:
        return np.ascontiguousarray(steps).view(np.uint8)
    return np.asarray(steps, dtype=np.uint8)
