"""Time linking one crop against a synthetic 10,000-SKU catalog on one CPU core.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_linking.py [--skus 10000] [--repeat 30] [--no-ocr]
        [--store DIR]

The catalog is synthetic where scale matters (random unit embeddings with four views per SKU,
colour signatures, a 30,000-word vocabulary) and real where per-candidate cost matters: the keypoint
sets are the 81 grocery-dev packshots' (cycled), so RANSAC verification costs what it costs on real
print. Timings are split so each stage can be budgeted: query features (embedding of the crops,
colour, keypoints, OCR), the catalog-wide pass (with the words OCR read, fuzzy-matched against the
whole vocabulary), keypoint verification of the shortlist, and fusion.

Memory: `--save-to DIR` builds the synthetic index, saves it there (each SKU with its own copy of
its arrays, as a real catalog would be) and exits; `--load-from DIR` (a fresh process, so the numbers
are not blurred by memory the build freed) loads it the way the API does (large arrays memory-mapped),
times the crops against it and reports the process's resident memory (anonymous and file-backed)
before loading, after loading and after the crops.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2
import numpy as np

from tagger.linking.factory import load_extractor
from tagger.linking.features import ImageFeatures
from tagger.linking.fusion import FusionModel
from tagger.linking.images import read_image
from tagger.linking.index import CatalogIndex, IndexedProduct
from tagger.linking.keypoints import LocalFeatures
from tagger.linking.linker import ShortlistConfig, candidate_set, catalog_scores
from tagger.linking.store import FileIndexStore

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    shared = os.environ.get("REELCART_SHARED_DIR")
    return (Path(shared) if shared else REPO_ROOT.parent / "shared") / "data" / "grocery-dev"


def synthetic_index(skus: int, real: list[ImageFeatures], seed: int = 0) -> CatalogIndex:
    rng = np.random.default_rng(seed)
    dim = real[0].embeddings.shape[1]
    vocabulary = [f"w{n:05d}" for n in range(30_000)]
    features: dict[str, ImageFeatures] = {}
    products = []
    for n in range(skus):
        views = rng.normal(size=(4, dim)).astype(np.float32)
        colour = np.abs(rng.normal(size=real[0].colour.shape[0])).astype(np.float32)
        template = real[n % len(real)]
        words = tuple(vocabulary[i] for i in rng.integers(0, len(vocabulary), size=6))
        digest = f"{n:064x}"
        features[digest] = ImageFeatures(
            embeddings=views / np.linalg.norm(views, axis=1, keepdims=True),
            colour=colour / np.linalg.norm(colour),
            local=template.local,
            words=words,
            # Real packshot patch descriptors too, so patch matching costs what it costs.
            patches=template.patches,
        )
        products.append(IndexedProduct(f"SKU-{n}", f"Product {n}", "Brand", " ".join(words), (digest,)))
    return CatalogIndex(products=tuple(products), image_features=features, feature_signature="bench")


def index_megabytes(index: CatalogIndex) -> float:
    """What a catalog of this size holds in numpy arrays, counting every image's own features (the
    synthetic index shares the real packshots' keypoint and patch arrays between SKUs; a real catalog
    would not) plus the derived search arrays."""
    total = 0
    for features in index.image_features.values():
        total += features.embeddings.nbytes + features.colour.nbytes + features.thumbnail.nbytes
        total += features.local.points.nbytes + features.local.descriptors.nbytes + features.patches.nbytes
    for derived in (index.centroids, index.colours, index.projected_centroids):
        total += 0 if derived is None else derived.nbytes
    return total / 2**20


def resident_mib() -> tuple[float, float]:
    """(anonymous, file-backed) resident memory of this process in MiB, from /proc (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) / 1024
    return fields.get("RssAnon", 0.0), fields.get("RssFile", 0.0)


def save_owned(index: CatalogIndex, root: Path) -> None:
    """Save `index` with its own arrays per image (the synthetic one shares them between SKUs)."""
    owned = CatalogIndex(
        products=index.products,
        image_features={
            digest: replace(
                features,
                local=LocalFeatures(features.local.points.copy(), features.local.descriptors.copy()),
                patches=features.patches.copy(),
            )
            for digest, features in index.image_features.items()
        },
        feature_signature=index.feature_signature,
    )
    started = time.perf_counter()
    version = FileIndexStore(root).save(owned)
    on_disk = sum(path.stat().st_size for path in (root / version).iterdir()) / 2**20
    print(f"saved {version} to {root} in {time.perf_counter() - started:.1f} s ({on_disk:,.0f} MiB on disk)")


def _resident(label: str) -> None:
    anonymous, file_backed = resident_mib()
    print(f"resident memory {label}: {anonymous:,.0f} MiB anonymous, {file_backed:,.0f} MiB file-backed")


def _ms(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples) * 1000:.1f} ms, p95 {np.percentile(samples, 95) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--shortlist", type=int, default=ShortlistConfig().size)
    parser.add_argument("--verify", type=int, default=ShortlistConfig().verify)
    parser.add_argument("--model-dir", type=Path, default=REPO_ROOT / "var" / "models")
    parser.add_argument(
        "--no-ocr", dest="ocr", action="store_false", help="leave OCR (and so the text lookup) out"
    )
    parser.add_argument("--save-to", type=Path, help="save the synthetic index here and exit")
    parser.add_argument("--load-from", type=Path, help="time against the index saved here (memory-mapped)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    data = _shared_data()
    extractor = load_extractor(args.model_dir, ocr=args.ocr, threads=1)
    photos = sorted((data / "val" / "Packages").rglob("*.jpg"))[:: max(1, 100 // args.repeat)][: args.repeat]
    if args.load_from is not None:
        _resident("before loading the index")
        started = time.perf_counter()
        index = FileIndexStore(args.load_from).load()
        print(f"loaded a {len(index)}-SKU index in {time.perf_counter() - started:.1f} s")
        _resident("after loading it")
    else:
        packshots = sorted((data / "iconic-images-and-descriptions" / "Packages").rglob("*_Iconic.jpg"))
        real = []
        for path in packshots:
            image = read_image(path)
            assert isinstance(image, np.ndarray)
            real.append(extractor.catalog_features(image))
        started = time.perf_counter()
        index = synthetic_index(args.skus, real)
        views = sum(features.embeddings.shape[0] for features in index.image_features.values())
        print(
            f"synthetic index: {len(index)} SKUs, {views} views, "
            f"built in {time.perf_counter() - started:.1f} s, {index_megabytes(index):,.0f} MiB of arrays "
            "as a real catalog of this size would hold them"
        )
        if args.save_to is not None:
            save_owned(index, args.save_to)
            return
    model = FusionModel.load()
    config = ShortlistConfig(size=args.shortlist, verify=args.verify)
    stages: dict[str, list[float]] = {
        "query features": [],
        "catalog pass": [],
        "shortlist+verify": [],
        "fusion": [],
    }
    for path in photos:
        image = read_image(path)
        assert isinstance(image, np.ndarray)
        index.vocabulary.forget_answers()  # every crop's words looked up cold, as a new crop's are
        t0 = time.perf_counter()
        query = extractor.query_features(image)
        t1 = time.perf_counter()
        catalog_scores(query, index)
        t2 = time.perf_counter()
        index.vocabulary.forget_answers()  # candidate_set repeats the catalog pass: cold again
        restart = time.perf_counter()
        candidates = candidate_set(query, index, config)
        t3 = time.perf_counter()
        model.probabilities(candidates.features)
        t4 = time.perf_counter()
        stages["query features"].append(t1 - t0)
        stages["catalog pass"].append(t2 - t1)
        # candidate_set repeats the catalog pass; subtract it so verification is timed alone.
        stages["shortlist+verify"].append(max(0.0, (t3 - restart) - (t2 - t1)))
        stages["fusion"].append(t4 - t3)
    ocr = "on" if args.ocr else "off"
    print(f"{len(photos)} crops, shortlist {args.shortlist} (verify {args.verify}), OCR {ocr}, one thread:")
    for name, samples in stages.items():
        print(f"  {name:18s} {_ms(samples)}")
    matching = [
        a + b + c
        for a, b, c in zip(stages["catalog pass"], stages["shortlist+verify"], stages["fusion"], strict=True)
    ]
    total = [a + b for a, b in zip(stages["query features"], matching, strict=True)]
    print(f"  {'matching (10k)':18s} {_ms(matching)}")
    print(f"  {'total per crop':18s} {_ms(total)}")
    anonymous, file_backed = resident_mib()
    print(
        f"resident memory after the crops: {anonymous:,.0f} MiB anonymous, {file_backed:,.0f} MiB file-backed"
    )


if __name__ == "__main__":
    main()
