r"""How the whole-frame print search scales with the catalog, and whether its vote keeps what it finds.

    .venv/bin/python scripts/bench_locate.py speed [--skus 81 1000 10000]
    .venv/bin/python scripts/bench_locate.py recall --catalog var/eval/episodes/CATALOG.csv \
        --episodes var/eval/episodes/episode-0.mp4 ... [--distractors 10000]

`speed`: one whole-frame look (`tagger.linking.locate.locate_products`) at an episode frame against
catalogs of N SKUs (the 81 real packshots, the rest distractors: keypoints of seeded square crops of
../shared/data/videos frames, as `recall` adds), searching every row and searching the vote's shortlist
(`LocateConfig.row_budget`); the shortlist's build time and memory, and a look against it once saved and
memory-mapped by the index store.

`recall`: tags each episode with the catalog searched in full (as a catalog under the budget is) and,
at every whole-frame look, ranks the catalog rows by the vote (`tagger.linking.print_shortlist`): where
did the rows the full search found rank, and the rows reaching the candidate bar? With
`--distractors N`, N more rows are added to the vote's catalog: seeded square crops of the frames of
../shared/data/videos, with keypoints extracted as a packshot's are (the rank of a found row among
81 + N rows is what a look in a catalog of that size would keep within its budget).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from relink_episode import linker_for  # noqa: E402

import tagger.linking.locate as locate_module  # noqa: E402
import tagger.locating as locating_module  # noqa: E402
from tagger.linking.decision import LinkThresholds  # noqa: E402
from tagger.linking.features import FeatureConfig  # noqa: E402
from tagger.linking.index import CatalogIndex, IndexedProduct  # noqa: E402
from tagger.linking.keypoints import (  # noqa: E402
    LocalFeatures,
    MatchingQuery,
    QuantizedDescriptors,
    extract_local_features,
)
from tagger.linking.locate import LocateConfig, locate_products, similarity_fit  # noqa: E402
from tagger.linking.print_shortlist import ImageRows, PrintShortlist, print_shortlist_for  # noqa: E402
from tagger.linking.store import FileIndexStore  # noqa: E402
from tagger.pipeline import tag_video  # noqa: E402
from tagger.settings import TaggerSettings  # noqa: E402

WORK_SIDE = (540, 960)


def _shared() -> Path:
    shared = os.environ.get("REELCART_SHARED_DIR")
    return Path(shared) if shared else REPO_ROOT.parent / "shared"


def _frame(video: Path, index: int = 90) -> np.ndarray:
    with av.open(str(video)) as container:
        for position, frame in enumerate(container.decode(video=0)):
            if position == index:
                image = frame.to_ndarray(format="bgr24")
                return np.asarray(cv2.resize(image, WORK_SIDE, interpolation=cv2.INTER_AREA), np.uint8)
    raise SystemExit(f"{video} has fewer than {index + 1} frames")


def _median_ms(run: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times)), result


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speed(catalog: Path, video: Path, sizes: Sequence[int]) -> None:
    cv2.setNumThreads(1)
    base = linker_for(catalog, frozenset(), TaggerSettings()).index
    frame = _frame(video)
    started = time.perf_counter()
    extra = _distractor_features(max(0, max(sizes) - len(base)))
    print(
        f"{len(extra)} distractor packshots' keypoints in {time.perf_counter() - started:.0f} s", flush=True
    )
    for skus in sizes:
        index = _with_distractors(base, extra[: max(0, skus - len(base))])
        everything = LocateConfig(max_rows=10**6, row_share=1.0)
        every, found = _median_ms(partial(locate_products, frame, index, everything), 1 if skus > 2000 else 3)
        started = time.perf_counter()
        shortlist = print_shortlist_for(index)
        built_s = time.perf_counter() - started
        voted, found_voted = _median_ms(partial(locate_products, frame, index, LocateConfig()), 5)
        budget = LocateConfig().row_budget(len(index))
        line = (
            f"{len(index):>6} SKUs: every row {every:7.0f} ms; the vote's {budget} rows {voted:5.0f} ms "
            f"(shortlist built in {built_s:.1f} s, {shortlist.own_bytes / 2**20:.0f} MiB of its own)"
        )
        with tempfile.TemporaryDirectory() as folder:
            store = FileIndexStore(Path(folder))
            started = time.perf_counter()
            store.save(index)
            saved_s = time.perf_counter() - started
            loaded = store.load()
            mapped, found_mapped = _median_ms(partial(locate_products, frame, loaded, LocateConfig()), 5)
        finds = [[(item.sku, item.inliers) for item in look] for look in (found, found_voted, found_mapped)]
        print(
            f"{line}; saved: {mapped:.0f} ms a look (saved in {saved_s:.0f} s); finds {finds[0]}, "
            f"the same with the vote: {finds[0] == finds[1] == finds[2]}",
            flush=True,
        )


def _distractor_features(count: int) -> list[LocalFeatures]:
    """Keypoints (as a packshot's) of `count` seeded square crops of ../shared/data/videos frames."""
    config = FeatureConfig()
    frames = []
    for clip in sorted((_shared() / "data" / "videos").iterdir()):
        if clip.suffix in (".mp4", ".gif"):
            with av.open(str(clip)) as container:
                for n, frame in enumerate(container.decode(video=0)):
                    if n % 5 == 0:
                        frames.append(np.asarray(frame.to_ndarray(format="bgr24"), np.uint8))
    rng = np.random.default_rng(1)
    found: list[LocalFeatures] = []
    while len(found) < count:
        image = frames[int(rng.integers(len(frames)))]
        height, width = image.shape[:2]
        side = int(rng.integers(min(height, width) // 4, min(height, width)))
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        crop = image[top : top + side, left : left + side]
        local = extract_local_features(
            crop, upscale_to=config.keypoint_side_px, max_features=config.max_keypoints
        )
        if len(local) >= 2:
            found.append(local.compact())
    return found


def _with_distractors(base: CatalogIndex, extra: Sequence[LocalFeatures]) -> CatalogIndex:
    """`base` plus one product per distractor: its keypoints, random embedding and colour (the look
    reads only keypoints), the first packshot's other features."""
    if not extra:
        return base
    rng = np.random.default_rng(0)
    template = base.image_features[base.products[0].image_digests[0]]
    features = dict(base.image_features)
    products = list(base.products)
    for number, local in enumerate(extra):
        digest = f"{number:064x}"
        views = rng.normal(size=template.embeddings.shape).astype(np.float32)
        features[digest] = replace(
            template, embeddings=views / np.linalg.norm(views, axis=1, keepdims=True), local=local
        )
        products.append(IndexedProduct(f"DX-{number}", f"Distractor {number}", "Bench", "", (digest,)))
    return CatalogIndex(tuple(products), features, base.feature_signature)


def _vote_with(index: CatalogIndex, extra: tuple[list[Any], list[int]], rows: int) -> PrintShortlist:
    columns, images, start = [], [], 0
    for row, product in enumerate(index.products):
        for digest in product.image_digests:
            quantized = index.image_features[digest].local.descriptors
            assert isinstance(quantized, QuantizedDescriptors)  # a format-4 index, as built here
            columns.append(quantized)
            images.append(ImageRows(start, start + len(quantized), (row,)))
            start += len(quantized)
    for quantized, row in zip(*extra, strict=True):
        columns.append(quantized)
        images.append(ImageRows(start, start + len(quantized), (row,)))
        start += len(quantized)
    steps = np.concatenate([item.steps for item in columns])
    norms = np.concatenate([item.squared_norms for item in columns]).astype(np.int32)
    return PrintShortlist.build(steps, norms, images, rows)


def recall(catalog: Path, episodes: Sequence[Path], distractors: int) -> None:
    settings = TaggerSettings()
    linker = linker_for(catalog, frozenset(), settings)
    index = linker.index
    rows = len(index) + distractors
    started = time.perf_counter()
    locals_ = _distractor_features(distractors)
    extra = ([item.descriptors for item in locals_], list(range(len(index), len(index) + len(locals_))))
    vote = _vote_with(index, extra, rows)
    extra_descriptors = sum(len(item) for item in extra[0])
    took = time.perf_counter() - started
    print(f"vote over {rows} rows ({extra_descriptors} distractor descriptors): {took:.0f} s")
    looks: list[dict[str, Any]] = []
    vote_s: list[float] = []
    search = locate_products

    def instrumented(image: Any, idx: Any, config: LocateConfig, **kwargs: Any) -> Any:
        found = search(image, idx, config, **kwargs)
        if kwargs.get("rows") is not None:
            return found
        factor = min(1.0, config.max_side / max(image.shape[:2]))
        view = image
        if factor < 1:
            view = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        local = extract_local_features(view, upscale_to=0, max_features=config.max_keypoints)
        if len(local) < locate_module.MIN_MATCHES:
            return found
        query = MatchingQuery.of(local)
        tick = time.perf_counter()
        votes = vote.votes(query.descriptors)
        vote_s.append(time.perf_counter() - tick)
        rank = np.empty(rows, np.int64)
        rank[np.argsort(-votes, kind="stable")] = np.arange(rows)
        reaching = [
            row
            for row in range(len(idx))
            if any(
                (fit := similarity_fit(query, idx.image_features[d].local, config.reprojection_px))
                is not None
                and fit[1] >= config.tentative_inliers
                for d in idx.products[row].image_digests
            )
        ]
        looks.append(
            {"found": [int(rank[item.row]) for item in found], "bar": [int(rank[r]) for r in reaching]}
        )
        return found

    locating_module.locate_products = instrumented  # type: ignore[attr-defined,assignment]
    # The full search of the 81 rows, whatever --distractors adds to the vote.
    settings = TaggerSettings(locate_max_rows=100_000, locate_row_share=1.0)
    for episode in episodes:
        tag_video(episode, settings=settings, linker=linker, thresholds=LinkThresholds())
    found = sorted(rank for look in looks for rank in look["found"])
    bar = sorted(rank for look in looks for rank in look["bar"])
    budget = LocateConfig().row_budget(rows)
    print(
        json.dumps(
            {
                "rows": rows,
                "whole_frame_looks": len(looks),
                "found_rows": len(found),
                "worst_found_rank": found[-1] if found else None,
                "found_outside_budget": sum(rank >= budget for rank in found),
                "rows_at_candidate_bar": len(bar),
                "worst_bar_rank": bar[-1] if bar else None,
                "bar_outside_budget": sum(rank >= budget for rank in bar),
                "vote_ms_median": round(1000 * float(np.median(vote_s)), 1) if vote_s else None,
                "max_rss_mib": round(_rss_mib()),
            }
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    timing = commands.add_parser("speed")
    timing.add_argument("--catalog", type=Path, default=REPO_ROOT / "var/eval/episodes/CATALOG.csv")
    timing.add_argument("--video", type=Path, default=REPO_ROOT / "var/eval/episodes/episode-1.mp4")
    timing.add_argument("--skus", type=int, nargs="+", default=[81, 1000, 10_000])
    ranks = commands.add_parser("recall")
    ranks.add_argument("--catalog", type=Path, required=True)
    ranks.add_argument("--episodes", type=Path, nargs="+", required=True)
    ranks.add_argument("--distractors", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "speed":
        speed(args.catalog, args.video, args.skus)
    else:
        recall(args.catalog, args.episodes, args.distractors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
