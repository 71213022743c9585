"""The vote that bounds a whole-frame print search in a large catalog: exact, deterministic, and the
row whose print is in the frame comes first."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import tagger.linking.locate as locate_module
from tagger.arrays import FloatArray
from tagger.linking.errors import IndexStoreError
from tagger.linking.fusion import FusionModel
from tagger.linking.index import CatalogIndex, build_catalog_index
from tagger.linking.keypoints import (
    MatchingQuery,
    QuantizedDescriptors,
    extract_local_features,
    quantize_candidate,
    quantize_query,
)
from tagger.linking.linker import Linker
from tagger.linking.locate import LocateConfig, locate_products
from tagger.linking.print_shortlist import (
    MAX_VOTES_PER_DESCRIPTOR,
    ImageRows,
    PrintShortlist,
    integer_kmeans,
    nearest_centroid,
    print_shortlist_for,
    shortlist_of,
)
from tagger.linking.store import SHORTLIST_FOLDER, FileIndexStore
from tagger.locating import locator_for
from tagger.settings import TaggerSettings
from tests.tagger.linking.factories import catalog, extractor, packshot, scene_around
from tests.tagger.linking.test_locate import _holding

ROWS, PER_ROW = 300, 60


def _built(descriptors: list[FloatArray], owners: list[tuple[int, ...]] | None = None) -> PrintShortlist:
    """A shortlist over one image per entry of `descriptors`, image i used by rows `owners[i]`."""
    quantized = [quantize_candidate(item) for item in descriptors]
    owners = owners or [(row,) for row in range(len(descriptors))]
    starts = np.cumsum([0, *(len(item) for item in quantized)])
    images = [ImageRows(int(starts[i]), int(starts[i + 1]), owners[i]) for i in range(len(quantized))]
    steps = np.concatenate([item.steps for item in quantized] or [np.zeros((0, 128), np.int8)])
    norms = np.concatenate([item.squared_norms for item in quantized] or [np.zeros(0, np.int32)])
    return PrintShortlist.build(steps, norms, images, max((max(o) for o in owners), default=-1) + 1)


def _rootsift_like(rng: np.random.Generator, count: int) -> FloatArray:
    """Unit-length non-negative 128-d descriptors, as RootSIFT's are."""
    raw = rng.gamma(0.6, size=(count, 128))
    return np.asarray(raw / np.linalg.norm(raw, axis=1, keepdims=True), dtype=np.float32)


@pytest.fixture(scope="module")
def catalog_descriptors() -> list[FloatArray]:
    rng = np.random.default_rng(7)
    return [_rootsift_like(rng, PER_ROW) for _ in range(ROWS)]


@pytest.fixture(scope="module")
def shortlist(catalog_descriptors: list[FloatArray]) -> PrintShortlist:
    return _built(catalog_descriptors)


def _frame_showing(
    row_descriptors: FloatArray, rng: np.random.Generator, seen: int = 25
) -> QuantizedDescriptors:
    """A frame's descriptors: `seen` of the row's, slightly disturbed, among 400 of clutter."""
    shown = row_descriptors[rng.choice(len(row_descriptors), size=seen, replace=False)]
    shown = np.abs(shown + rng.normal(0, 0.01, size=shown.shape)).astype(np.float32)
    shown /= np.linalg.norm(shown, axis=1, keepdims=True)
    return quantize_query(np.concatenate([_rootsift_like(rng, 400), shown]))


def test_the_row_whose_print_is_in_the_frame_gets_the_most_votes(
    shortlist: PrintShortlist, catalog_descriptors: list[FloatArray]
) -> None:
    rng = np.random.default_rng(1)
    for row in (0, 137, ROWS - 1):
        votes = shortlist.votes(_frame_showing(catalog_descriptors[row], rng))

        assert int(np.argmax(votes)) == row
        assert votes[row] >= 10


def test_a_shortlist_has_the_budget_s_size_in_catalog_order_and_holds_the_shown_row(
    shortlist: PrintShortlist, catalog_descriptors: list[FloatArray]
) -> None:
    chosen = shortlist.shortlist(_frame_showing(catalog_descriptors[42], np.random.default_rng(2)), 16)

    assert len(chosen) == 16
    assert chosen == sorted(chosen)
    assert 42 in chosen


def test_the_same_catalog_gives_the_same_tree_and_votes(catalog_descriptors: list[FloatArray]) -> None:
    first = _built(catalog_descriptors[:50])
    again = _built([item.copy() for item in catalog_descriptors[:50]])
    frame = _frame_showing(catalog_descriptors[3], np.random.default_rng(3))

    assert np.array_equal(first.tree.top, again.tree.top)
    assert all(np.array_equal(a, b) for a, b in zip(first.tree.children, again.tree.children, strict=True))
    assert np.array_equal(first.votes(frame), again.votes(frame))


def test_a_descriptor_many_rows_share_gives_no_vote_and_siblings_share_theirs() -> None:
    rng = np.random.default_rng(4)
    common = _rootsift_like(rng, 1)  # printed on every pack (a glyph)
    family = _rootsift_like(rng, 1)  # two siblings' shared logo
    rows = [_rootsift_like(rng, 40) for _ in range(20)]
    rows = [np.concatenate([item, common]) for item in rows]
    rows[5] = np.concatenate([rows[5], family])
    rows[6] = np.concatenate([rows[6], family])
    built = _built(rows)

    assert built.votes(quantize_query(common)).sum() == 0  # near in 20 rows > MAX_VOTES_PER_DESCRIPTOR
    assert MAX_VOTES_PER_DESCRIPTOR < 20
    assert built.votes(quantize_query(family)).tolist() == [int(row in (5, 6)) for row in range(20)]


def test_kmeans_centroids_are_rounded_means_of_their_members() -> None:
    steps = np.array([[0, 0], [2, 1], [100, 100], [101, 103]], dtype=np.uint8)

    centroids = integer_kmeans(steps, 2, np.random.default_rng(0))

    assert sorted(map(tuple, centroids.tolist())) == [(1, 1), (101, 102)]  # (0+2)/2, (0+1)/2 = 0.5 -> 1
    assert nearest_centroid(steps, centroids).tolist() == nearest_centroid(steps, centroids[[0, 1]]).tolist()


def test_an_empty_frame_or_catalog_votes_for_nothing(shortlist: PrintShortlist) -> None:
    empty = QuantizedDescriptors(np.zeros((0, 128), np.uint8), np.zeros(0, np.int32))
    nothing = _built([])

    assert shortlist.votes(empty).sum() == 0
    assert nothing.votes(quantize_query(_rootsift_like(np.random.default_rng(5), 3))).tolist() == []


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return build_catalog_index(catalog(6), extractor())


def test_over_the_row_budget_a_look_searches_only_the_best_voted_rows(
    index: CatalogIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame, _ = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    searched: list[int] = []
    fit = locate_module.similarity_fit

    def counting(query, packshot, reprojection_px):  # type: ignore[no-untyped-def]
        searched.append(id(packshot))
        return fit(query, packshot, reprojection_px)

    monkeypatch.setattr(locate_module, "similarity_fit", counting)

    assert [item.sku for item in locate_products(frame, index, LocateConfig(max_rows=2))] == ["SKU-2"]
    assert len(searched) == 2
    searched.clear()
    assert [item.sku for item in locate_products(frame, index, LocateConfig(max_rows=6))] == ["SKU-2"]
    assert len(searched) == 6  # within the budget: every row, as before
    searched.clear()
    # A quarter of 6 rows, at least 2: the best-voted 2.
    share = LocateConfig(min_rows=2, row_share=0.25)
    assert [item.sku for item in locate_products(frame, index, share)] == ["SKU-2"]
    assert len(searched) == 2


@pytest.mark.parametrize(
    ("catalog_rows", "budget"),
    [
        (0, 0),
        (1, 1),
        (32, 32),
        (33, 32),
        (81, 32),
        (128, 32),
        (129, 33),
        (200, 50),
        (1000, 250),
        (10_000, 256),
    ],
)
def test_a_look_s_row_budget_is_a_share_of_the_catalog_between_the_floor_and_the_ceiling(
    catalog_rows: int, budget: int
) -> None:
    assert LocateConfig().row_budget(catalog_rows) == budget


def test_the_ceiling_wins_over_the_floor() -> None:
    assert LocateConfig(max_rows=8, min_rows=32).row_budget(81) == 8
    assert LocateConfig(row_share=1.0).row_budget(81) == 81


def test_an_index_s_shortlist_is_built_once_per_version(index: CatalogIndex) -> None:
    assert print_shortlist_for(index) is print_shortlist_for(index)
    assert print_shortlist_for(index).rows == len(index)


@pytest.mark.parametrize(
    "unusable",
    [{"max_rows": 0}, {"min_rows": 0}, {"row_share": 0.0}, {"row_share": -0.5}, {"row_share": 1.5}],
)
def test_a_row_budget_that_searches_nothing_or_more_than_the_catalog_is_refused(
    unusable: dict[str, float],
) -> None:
    with pytest.raises(ValueError, match="unusable locate config"):
        LocateConfig(**unusable)  # type: ignore[arg-type]


def test_an_image_two_skus_share_votes_for_both(catalog_descriptors: list[FloatArray]) -> None:
    # Image 1 is row 1's and row 9's (one packshot for two SKUs).
    shared = _built(catalog_descriptors[:9], [(0,), (1, 9), *((row,) for row in range(2, 9))])
    votes = shared.votes(_frame_showing(catalog_descriptors[1], np.random.default_rng(6)))

    assert votes[1] == votes[9] == votes.max()
    assert shared.rows == 10


def _with_scenes() -> CatalogIndex:
    """The six-product catalog where every SKU also has a shop photo (a scene: its keypoints do not vote)."""
    items = [
        replace(item, images=(*item.images, scene_around(packshot(row + 20), seed=row)))
        for row, item in enumerate(catalog(6))
    ]
    return build_catalog_index(items, extractor())


@pytest.mark.parametrize("scenes", [False, True])
def test_a_saved_index_maps_its_shortlist_and_votes_as_a_built_one(
    index: CatalogIndex, tmp_path: Path, scenes: bool
) -> None:
    index = _with_scenes() if scenes else index
    store = FileIndexStore(tmp_path)
    store.save(index)
    loaded = store.load()
    frame, _ = _holding(3, scale=1.5, angle=5.0, centre=(270, 480))
    query = MatchingQuery.of(extract_local_features(frame, upscale_to=0, max_features=1000)).descriptors

    assert isinstance(loaded.print_shortlist, PrintShortlist)
    assert isinstance(loaded.print_shortlist.entry_step, np.memmap)
    assert print_shortlist_for(loaded) is loaded.print_shortlist
    assert np.array_equal(loaded.print_shortlist.votes(query), shortlist_of(index).votes(query))
    assert int(np.argmax(loaded.print_shortlist.votes(query))) == index.skus.index("SKU-3")


def test_an_index_saved_without_a_shortlist_builds_one_and_a_broken_one_is_refused(
    index: CatalogIndex, tmp_path: Path
) -> None:
    store = FileIndexStore(tmp_path)
    version = store.save(index)
    shutil.rmtree(tmp_path / version / SHORTLIST_FOLDER)

    assert store.load().print_shortlist is None
    assert print_shortlist_for(store.load()).rows == len(index)

    shortlist_of(index).save(tmp_path / version / SHORTLIST_FOLDER)
    np.save(tmp_path / version / SHORTLIST_FOLDER / "entry_owner.npy", np.full(5, 99, np.int32))
    with pytest.raises(IndexStoreError, match="corrupt"):
        store.load()


def test_an_image_many_skus_share_still_votes_for_each(catalog_descriptors: list[FloatArray]) -> None:
    # Image 0 is the packshot of six size variants (rows 0 and 10-14): six SKUs, one print.
    variants = _built(catalog_descriptors[:10], [(0, 10, 11, 12, 13, 14), *((row,) for row in range(1, 10))])
    votes = variants.votes(_frame_showing(catalog_descriptors[0], np.random.default_rng(8)))

    assert votes[0] >= 10
    assert {int(row) for row in np.flatnonzero(votes == votes.max())} == {0, 10, 11, 12, 13, 14}


def test_the_same_products_in_another_order_get_their_own_shortlist() -> None:
    forward = build_catalog_index(catalog(6), extractor())
    backward = build_catalog_index(list(reversed(catalog(6))), extractor())
    frame, _ = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))

    assert forward.version == backward.version  # the version names the products, not their order
    assert print_shortlist_for(forward) is not print_shortlist_for(backward)
    assert [item.sku for item in locate_products(frame, backward, LocateConfig(max_rows=2))] == ["SKU-2"]


def test_concurrent_first_uses_build_one_shortlist(index: CatalogIndex) -> None:
    reordered = build_catalog_index(catalog(6)[1:] + catalog(6)[:1], extractor())
    with ThreadPoolExecutor(max_workers=4) as pool:
        shortlists = list(pool.map(lambda _: print_shortlist_for(reordered), range(8)))

    assert all(item is shortlists[0] for item in shortlists)


def test_the_locator_takes_its_row_budget_from_the_settings(index: CatalogIndex) -> None:
    linker = Linker(index, extractor(), FusionModel.load())

    settings = TaggerSettings(locate_max_rows=3, locate_min_rows=2, locate_row_share=0.5)
    locator = locator_for(linker, settings, class_id=80)

    assert locator is not None
    assert (locator.config.max_rows, locator.config.min_rows, locator.config.row_share) == (3, 2, 0.5)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        ("children", "a tree with fewer child nodes than top nodes"),
        ("rows", "a shortlist saved for another catalog size"),
        ("top", "a missing file"),
        ("leaf_starts", "entries out of order"),
    ],
)
def test_a_damaged_saved_shortlist_makes_the_index_corrupt(
    index: CatalogIndex, tmp_path: Path, damage: str, why: str
) -> None:
    store = FileIndexStore(tmp_path)
    folder = tmp_path / store.save(index) / SHORTLIST_FOLDER
    if damage == "children":
        np.save(folder / "children.npy", np.load(folder / "children.npy")[:1])
    elif damage == "rows":
        (folder / "shortlist.json").write_text('{"rows": 1000, "branching": 2}', encoding="utf-8")
    elif damage == "top":
        (folder / "top.npy").unlink()
    else:
        starts = np.load(folder / "leaf_starts.npy")
        np.save(folder / "leaf_starts.npy", starts[::-1].copy())

    with pytest.raises(IndexStoreError, match="corrupt"):
        store.load()
