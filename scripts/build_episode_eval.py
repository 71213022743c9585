"""Build labelled episodes for `reelcart eval episode` from GroceryStoreDataset (../shared/data/grocery-dev).

    .venv/bin/python scripts/build_episode_eval.py [--seeds 0 1 2] [--out var/eval/episodes] [--catalogs-only]

Writes into --out:
  CATALOG.csv            all 81 products in the import format of `reelcart catalog import` (SKU GS-<class id>,
                         prices in SEK, the manufacturer as vendor, absolute packshot paths)
  episode-<seed>.mp4     1080x1920 30 fps H.264, 30 shots of 2.5-4 s with hard cuts: each a val photo of a
                         hand-held packaged product across the frame's width over a blurred copy of itself,
                         under a slow zoom and pan; every fifth shot a product-free frame from
                         ../shared/data/videos (Intel's sample videos, except the clips that show
                         what the catalog sells: see CLIPS_SHOWING_CATALOG_PRODUCTS)
  truth-<seed>.json      [{start_ms, end_ms, sku}] per shot (sku null for product-free shots)
  CATALOG-SCENES.json    the same catalog where each packaged product has, after its packshot, one of its
                         in-store val photos that none of the seeds built in this run shows (the
                         import format's JSON; for experiments with catalog images that are not
                         packshots: a hand, a shelf, the product's neighbours; BENCHMARKS.md, End to end)
  CATALOG-OWN-PRINT.csv  CATALOG.csv with its `own_print` column from scripts/data/grocery_own_print.csv:
                         boxes around the print only that product has (its variant's name, its flavour
                         picture), marked by hand on each packaged product's packshot as a brand would
                         (`tagger.linking.own_print`; BENCHMARKS.md, End to end)
  frames/                the product-free frames, extracted once

With --enter the episodes are episode-enter-<seed>.mp4 and truth-enter-<seed>.json: the same shots, but
each product shot opens on its blurred backdrop alone and the photo slides in from the bottom edge
0.5-1.5 s into the shot (the truth's `visible_ms`), over 1 s (`synthetic_episode.ENTRY_MS`: slow
enough that the cut detector does not read it as a new shot), as a product picked up or carried into view; the
report then says how long each product waited for its first placement.

With --joined they are episode-joined-<seed>.mp4 and truth-joined-<seed>.json: the same shots, each
product shot's photo in the frame's upper half from the first frame, joined 0.5-1.5 s in by the
photo of the seed's next product (another SKU) sliding up into the lower half over 1 s (the truth's
`also`), as a second product brought into a shot where the first is held.

With --wide they are episode-wide-<seed>.mp4 and truth-wide-<seed>.json: the same shots, each product
shot's photo inset at 35-55 % of the frame's width (about 190-300 px across in the tagger's 960 px
working frame, against 540 in the plain episodes) over a product-free scene from ../shared/data/videos,
somewhere in the frame's middle, as a product seen in a wider shot rather than held up to the camera.
What it measures: whether products whose print is small in the frame are found, and by which proposals
(the general detector's boxes, linked from their crops, or the packshot's print located in the frame).
"""

from __future__ import annotations

import argparse
import csv
import json
import zlib
from dataclasses import asdict, replace
from pathlib import Path

import av
import cv2
import numpy as np
from build_grocery_eval import OWN_PRINT_MARKS, brand_of, default_data_dir, write_marked_catalog

from tagger.synthetic_episode import Inset, Joining, ShotSpec, render_episode

REPO_ROOT = Path(__file__).resolve().parents[1]
PRODUCT_FREE_EVERY = 5
FRAMES_PER_VIDEO = 6
# A product-free shot must show nothing the catalog sells, or its truth (`sku: null`) is wrong.
# GroceryStoreDataset sells fruit and vegetables (Granny Smith apples, oranges, zucchini, ...), and
# Intel's fruit-and-vegetable clip shows them on a conveyor: a green apple there was linked as Anjou
# pear and counted as "a placement on a product-free shot". Its frames are extracted with the others
# but never drawn. The draw takes one random number per product-free shot whatever the list holds,
# so excluding a clip changes which frame those shots show and leaves every product shot as it was.
CLIPS_SHOWING_CATALOG_PRODUCTS = frozenset({"fruit-and-vegetable-detection"})


def write_catalog(data: Path, target: Path) -> dict[int, str]:
    """The import CSV of all products; returns SKU by class id."""
    with (data / "classes.csv").open(encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row and row[1].strip().isdigit()]
    skus: dict[int, str] = {}
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "currency", "vendor", "description", "image"])
        for row in rows:
            name, class_id = row[0].strip(), int(row[1])
            description = data / row[5].strip().lstrip("/")
            sku = f"GS-{class_id:02d}"
            skus[class_id] = sku
            writer.writerow(
                [
                    sku,
                    name.replace("-", " "),
                    f"{12.9 + (zlib.crc32(name.encode()) % 31):.2f}",
                    "SEK",
                    brand_of(description),
                    description.read_text(encoding="utf-8").strip() if description.is_file() else "",
                    str((data / row[4].strip().lstrip("/")).resolve()),
                ]
            )
    return skus


def write_own_print_catalog(catalog_csv: Path, marks_csv: Path, target: Path) -> int:
    """CATALOG.csv with each product's own-print boxes (keyed by its GroceryStoreDataset name, the
    title with dashes); returns how many products have some."""
    return write_marked_catalog(
        catalog_csv, marks_csv, target, name_of=lambda row: row["title"].replace(" ", "-")
    )


def packaged_photos(data: Path) -> list[tuple[Path, int]]:
    """(val photo, class id) for every photo of a branded packaged product."""
    photos = []
    for line in (data / "val.txt").read_text(encoding="utf-8").splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) >= 2 and parts[0].startswith("val/Packages/"):
            photos.append((data / parts[0], int(parts[1])))
    return photos


def product_free_frames(videos: Path, folder: Path) -> list[Path]:
    """A few frames spread through each sample video that shows no catalog product, saved as PNG
    (decoded once, kept for later runs)."""
    return [
        frame
        for frame in extracted_frames(videos, folder)
        if frame.stem.rsplit("-", 1)[0] not in CLIPS_SHOWING_CATALOG_PRODUCTS
    ]


def extracted_frames(videos: Path, folder: Path) -> list[Path]:
    """A few frames spread through every sample video, saved as PNG (decoded once, kept for later runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = sorted(folder.glob("*.png"))
    if frames:
        return frames
    for video in sorted(p for p in videos.iterdir() if p.suffix.lower() in {".mp4", ".gif"}):
        with av.open(str(video)) as container:
            decoded = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
        for number, index in enumerate(np.linspace(0, len(decoded) - 1, FRAMES_PER_VIDEO).astype(int)):
            path = folder / f"{video.stem}-{number}.png"
            cv2.imwrite(str(path), decoded[index])
            frames.append(path)
    return frames


def plan_shots(
    seed: int, photos: list[tuple[Path, int]], skus: dict[int, str], free: list[Path], shots: int
) -> list[ShotSpec]:
    """Shots for one seed: distinct products while they last, every fifth shot product-free."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[Path]] = {}
    for path, class_id in photos:
        by_class.setdefault(class_id, []).append(path)
    classes = list(rng.permutation(sorted(by_class)))
    specs = []
    for index in range(shots):
        duration = int(rng.integers(2500, 4001))
        zoom = float(rng.uniform(0.04, 0.12))
        pan = (float(rng.choice([-1.0, 1.0])), float(rng.uniform(-1.0, 1.0)))
        if (index + 1) % PRODUCT_FREE_EVERY == 0:
            image = free[int(rng.integers(len(free)))]
            specs.append(ShotSpec(image, duration, None, zoom=zoom, pan=pan))
            continue
        class_id = int(classes.pop(0)) if classes else int(rng.choice(sorted(by_class)))
        image = by_class[class_id][int(rng.integers(len(by_class[class_id])))]
        specs.append(ShotSpec(image, duration, skus[class_id], zoom=zoom, pan=pan))
    return specs


# When a product comes into view in an --enter episode: this long after its shot starts (uniform).
ENTER_AFTER_MS = (500, 1500)


def entering(specs: list[ShotSpec], seed: int) -> list[ShotSpec]:
    """The same shots, each product shot's product coming into view mid-shot. The entry times have a
    generator of their own, so the shots themselves are those of the plain episode of `seed`."""
    rng = np.random.default_rng([seed, 1])
    low, high = ENTER_AFTER_MS
    return [
        replace(spec, enter_ms=int(rng.integers(low, high + 1))) if spec.sku is not None else spec
        for spec in specs
    ]


def joined(specs: list[ShotSpec], seed: int) -> list[ShotSpec]:
    """The same shots, each product shot joined mid-shot by the photo of the next product shot (in
    the episode's order, wrapping round) whose SKU differs. The entry times have a generator of their
    own, so the shots themselves are those of the plain episode of `seed`."""
    rng = np.random.default_rng([seed, 2])
    low, high = ENTER_AFTER_MS
    products = [spec for spec in specs if spec.sku is not None]
    shots = []
    for spec in specs:
        if spec.sku is None:
            shots.append(spec)
            continue
        at = products.index(spec)
        others = [other for other in products[at + 1 :] + products[:at] if other.sku != spec.sku]
        enter_ms = int(rng.integers(low, high + 1))
        if not others or others[0].sku is None:
            shots.append(spec)
            continue
        shots.append(replace(spec, joined_by=Joining(others[0].image, others[0].sku, enter_ms)))
    return shots


# How large a --wide episode's product photo is: this share of the frame's width (uniform), against the
# whole width in the plain episodes; its centre anywhere in the middle of the frame.
WIDE_SHARE = (0.35, 0.55)
WIDE_CENTRE_X = (0.3, 0.7)
WIDE_CENTRE_Y = (0.35, 0.7)


def widened(specs: list[ShotSpec], seed: int, free: list[Path]) -> list[ShotSpec]:
    """The same shots, each product shot's photo inset smaller in a product-free scene, as a product
    seen in a wider shot. The sizes, places and scenes have a generator of their own, so the shots
    themselves are those of the plain episode of `seed`."""
    rng = np.random.default_rng([seed, 3])
    shots = []
    for spec in specs:
        if spec.sku is None:
            shots.append(spec)
            continue
        inset = Inset(
            scene=free[int(rng.integers(len(free)))],
            share=float(rng.uniform(*WIDE_SHARE)),
            centre=(float(rng.uniform(*WIDE_CENTRE_X)), float(rng.uniform(*WIDE_CENTRE_Y))),
        )
        shots.append(replace(spec, inset=inset))
    return shots


def scene_photos(photos: list[tuple[Path, int]], shown: set[Path], skus: dict[int, str]) -> dict[str, Path]:
    """For each product, its first val photo (in the dataset's order) that no episode shows: a photo of
    the pack as sold, in the shop, that the episodes are not made of."""
    chosen: dict[str, Path] = {}
    for path, class_id in photos:
        sku = skus[class_id]
        if sku not in chosen and path not in shown:
            chosen[sku] = path
    return chosen


def write_scene_catalog(
    catalog_csv: Path, scenes: dict[str, Path], seeds: list[int], shots: int, target: Path
) -> None:
    """CATALOG.csv as import JSON, each product's scene photo (if it has one) after its packshot."""
    with catalog_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    products = [
        {
            "title": row["title"],
            "vendor": row["vendor"],
            "description": row["description"],
            "variants": [{"sku": row["sku"], "price": row["price"], "currency": row["currency"]}],
            "images": [{"path": row["image"]}]
            + ([{"path": str(scenes[row["sku"]].resolve())}] if row["sku"] in scenes else []),
        }
        for row in rows
    ]
    # `products` is what the import reads; the seeds and shots say which episodes the scene photos are
    # unseen by (other --seeds or --shots draw other photos).
    document = {"held_out_from_seeds": seeds, "shots_per_episode": shots, "products": products}
    target.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--videos", type=Path, default=None, help="default: <data>/../videos")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "var" / "eval" / "episodes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shots", type=int, default=30)
    parser.add_argument("--size", default="1080x1920", help="WIDTHxHEIGHT")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument(
        "--enter",
        action="store_true",
        help="products come into view 0.5-1.5 s into their shots "
        "(episode-enter-<seed>.mp4, truth-enter-<seed>.json)",
    )
    parser.add_argument(
        "--joined",
        action="store_true",
        help="each product shot is joined 0.5-1.5 s in by a second product "
        "(episode-joined-<seed>.mp4, truth-joined-<seed>.json)",
    )
    parser.add_argument(
        "--wide",
        action="store_true",
        help="each product photo is inset at 35-55 %% of the frame's width in a product-free scene, as "
        "a product seen in a wider shot (episode-wide-<seed>.mp4, truth-wide-<seed>.json)",
    )
    parser.add_argument(
        "--catalogs-only",
        action="store_true",
        help="write CATALOG.csv and CATALOG-SCENES.json for --seeds and --shots without rendering the "
        "episodes (the product-free frames are still extracted once, as the draw needs them)",
    )
    args = parser.parse_args()
    if not (args.data / "classes.csv").is_file():
        parser.error(
            f"{args.data} is not GroceryStoreDataset (no classes.csv); set --data or REELCART_SHARED_DIR"
        )
    if sum((args.enter, args.joined, args.wide)) > 1:
        parser.error("--enter, --joined and --wide build different episodes: choose one")
    width, height = (int(side) for side in args.size.lower().split("x"))
    videos = args.videos or args.data.parent / "videos"
    args.out.mkdir(parents=True, exist_ok=True)
    skus = write_catalog(args.data, args.out / "CATALOG.csv")
    photos = packaged_photos(args.data)
    free = product_free_frames(videos, args.out / "frames")
    shown: set[Path] = set()
    for seed in args.seeds:
        specs = plan_shots(seed, photos, skus, free, args.shots)
        shown |= {spec.image for spec in specs if spec.sku is not None}
        if args.catalogs_only:
            continue
        variant = "enter" if args.enter else "joined" if args.joined else "wide" if args.wide else None
        name = f"{variant}-{seed}" if variant is not None else str(seed)
        if args.enter:
            specs = entering(specs, seed)
        if args.joined:
            specs = joined(specs, seed)
        if args.wide:
            specs = widened(specs, seed, free)
        truth = render_episode(specs, args.out / f"episode-{name}.mp4", size=(width, height), fps=args.fps)
        # (`visible_ms` only where a product enters mid-shot, `also` only where another joins it: plain
        # truths keep their three keys.)
        document = [
            {
                k: v
                for k, v in asdict(shot).items()
                if not ((k == "visible_ms" and v is None) or (k == "also" and not v))
            }
            for shot in truth
        ]
        (args.out / f"truth-{name}.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        products = sum(shot.sku is not None for shot in truth)
        print(f"seed {seed}: {len(truth)} shots ({products} with a product), {truth[-1].end_ms / 1000:.1f} s")
    print(f"catalog: {args.out / 'CATALOG.csv'} ({len(skus)} products)")
    scenes = scene_photos(photos, shown, skus)
    scene_catalog = args.out / "CATALOG-SCENES.json"
    write_scene_catalog(args.out / "CATALOG.csv", scenes, args.seeds, args.shots, scene_catalog)
    print(f"catalog with scene photos: {scene_catalog} ({len(scenes)} products with one)")
    own_print_catalog = args.out / "CATALOG-OWN-PRINT.csv"
    marked = write_own_print_catalog(args.out / "CATALOG.csv", OWN_PRINT_MARKS, own_print_catalog)
    print(f"catalog with own-print marks: {own_print_catalog} ({marked} products marked)")


if __name__ == "__main__":
    main()
