"""The demo's media, made on this machine and offline: a catalog CSV of GroceryStoreDataset's packaged
products (or six drawn packshots when ../shared is absent) and a portrait H.264 episode cut from
in-store photos of them, one scene a shot. `reelcart demo` (api/cli/demo.py) imports and tags them;
nothing here knows about the database.
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

DEMO_FPS = 30


DEMO_SIZE = (540, 960)  # portrait 9:16, like the micro-dramas players show


SHOT_SECONDS = 3


def write_grocery_catalog(shared: Path, folder: Path) -> Path:
    """A catalog CSV of GroceryStoreDataset's packaged products (SKU GS-<class id>, prices in SEK)."""
    root = shared / "data" / "grocery-dev"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "grocery-catalog.csv"
    with (
        (root / "classes.csv").open(encoding="utf-8") as source,
        target.open("w", newline="", encoding="utf-8") as out,
    ):
        writer = csv.writer(out)
        writer.writerow(["sku", "title", "price", "currency", "vendor", "description", "image"])
        for row in csv.reader(source):
            if not row or not row[1].strip().isdigit() or "/Packages/" not in row[4]:
                continue
            name, class_id, kind = row[0].strip(), int(row[1]), row[2].strip()
            description_path = root / row[5].strip().lstrip("/")
            description = (
                description_path.read_text(encoding="utf-8").strip() if description_path.is_file() else ""
            )
            # Deterministic, plausible shelf prices: 12.90 to 42.90 SEK.
            price = f"{12.9 + (zlib.crc32(name.encode()) % 31):.2f}"
            title = name.replace("-", " ")
            information = description_path.with_name(
                description_path.name.replace("_Description", "_Information")
            )
            facts = information.read_text(encoding="utf-8") if information.is_file() else ""
            vendor = grocery_vendor(title, facts) if title.split()[0] != kind else ""
            writer.writerow(
                [
                    f"GS-{class_id:02d}",
                    title,
                    price,
                    "SEK",
                    vendor,
                    description,
                    str(root / row[4].strip().lstrip("/")),
                ]
            )
    return target


def grocery_vendor(title: str, information: str) -> str:
    """The brand a GroceryStoreDataset product is sold under, as its title spells it.

    The class names carry no brand field ("God-Morgon-Orange-Juice"), so a title's first word is a guess
    that cuts "God Morgon" to "God". The product's `_Information.txt` line "Manufacturer and volume: GOD
    MORGON , 1l" says where the brand ends: the title's leading words that it repeats (case aside) are the
    vendor ("ARLA KO" and "GARANT EKO" add words the titles do not, so they stay "Arla" and "Garant").
    Without that line, the first word.
    """
    words = title.split()
    match = re.search(r"^Manufacturer and volume:\s*([^,\n]+)", information, re.MULTILINE)
    maker = match.group(1).split() if match else []
    shared = 0
    while shared < min(len(words), len(maker)) and words[shared].casefold() == maker[shared].casefold():
        shared += 1
    return " ".join(words[: shared or 1])


def write_drawn_catalog(folder: Path) -> Path:
    """Without ../shared: six products with packshots drawn here, so the demo still works."""
    folder.mkdir(parents=True, exist_ok=True)
    products = [
        ("Sparkling Water 500 ml", (200, 160, 40)),
        ("Cold Brew Coffee", (30, 50, 90)),
        ("Matcha Latte", (60, 170, 90)),
        ("Orange Juice 1 L", (20, 140, 250)),
        ("Oat Drink Barista", (180, 200, 220)),
        ("Dark Chocolate 70%", (40, 40, 120)),
    ]
    target = folder / "drawn-catalog.csv"
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["sku", "title", "price", "currency", "vendor", "description", "image"])
        for number, (title, colour) in enumerate(products, start=1):
            image = np.full((600, 400, 3), colour, dtype=np.uint8)
            cv2.rectangle(image, (30, 180), (370, 420), (245, 245, 245), -1)
            cv2.putText(image, title[:14], (45, 300), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2)
            path = folder / f"drawn-{number}.png"
            cv2.imwrite(str(path), image)
            writer.writerow(
                [
                    f"DEMO-{number}",
                    title,
                    f"{2.49 + number:.2f}",
                    "EUR",
                    "ReelCart Demo",
                    f"{title}, drawn by the demo.",
                    path.name,
                ]
            )
    return target


# In-store photos (GroceryStoreDataset val split) of catalog products that YOLOX-Nano sees as a
# bottle or cup: on them the demo finds, tracks and links real products.
DEMO_SCENES = (
    (
        "Yoghurt/Yoggi-Vanilla-Yoghurt/Yoggi-Vanilla-Yoghurt_001.jpg",
        "Juice/Bravo-Orange-Juice/Bravo-Orange-Juice_002.jpg",
    ),
    (
        "Yoghurt/Yoggi-Strawberry-Yoghurt/Yoggi-Strawberry-Yoghurt_001.jpg",
        "Soyghurt/Alpro-Vanilla-Soyghurt/Alpro-Vanilla-Soyghurt_003.jpg",
    ),
    (
        "Yoghurt/Arla-Mild-Vanilla-Yoghurt/Arla-Mild-Vanilla-Yoghurt_002.jpg",
        "Juice/God-Morgon-Orange-Juice/God-Morgon-Orange-Juice_003.jpg",
    ),
    (
        "Soyghurt/Alpro-Blueberry-Soyghurt/Alpro-Blueberry-Soyghurt_003.jpg",
        "Yoghurt/Yoggi-Vanilla-Yoghurt/Yoggi-Vanilla-Yoghurt_003.jpg",
    ),
    (
        "Juice/Bravo-Orange-Juice/Bravo-Orange-Juice_003.jpg",
        "Soyghurt/Alpro-Vanilla-Soyghurt/Alpro-Vanilla-Soyghurt_002.jpg",
    ),
)


def demo_scenes(shared: Path | None, packshots: list[Path]) -> list[list[Path]]:
    """Two in-store photos a shot when ../shared has them, else one packshot a shot."""
    if shared is not None:
        root = shared / "data" / "grocery-dev" / "val" / "Packages"
        scenes = [[root / name for name in pair] for pair in DEMO_SCENES]
        if all(path.is_file() for scene in scenes for path in scene):
            return scenes
    return [[path] for path in packshots[:5]]


def readable_scenes(scenes: list[list[Path]]) -> list[list[Path]]:
    """The scenes the episode is cut from: photos that cannot be read are dropped, and so is a scene
    left with none (the episode builder and the demo's reviewer must agree on which shot is which)."""
    kept = [
        [path for path in scene if cv2.imread(str(path), cv2.IMREAD_COLOR) is not None] for scene in scenes
    ]
    return [scene for scene in kept if scene]


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / image.shape[1], height / image.shape[0])
    size = (max(int(image.shape[1] * scale), 1), max(int(image.shape[0] * scale), 1))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def _shot_canvas(images: list[np.ndarray], tint: np.ndarray) -> np.ndarray:
    """The shot's images stacked vertically on a tinted gradient, a little larger than the frame."""
    width, height = int(DEMO_SIZE[0] * 1.12), int(DEMO_SIZE[1] * 1.12)
    canvas = np.linspace(0.55, 1.0, height, dtype=np.float32)[:, None, None] * tint[None, None, :]
    canvas = np.repeat(canvas, width, axis=1).astype(np.uint8)
    slot = height // len(images)
    for number, image in enumerate(images):
        fitted = _fit(image, int(width * 0.92), int(slot * 0.92))
        y = number * slot + (slot - fitted.shape[0]) // 2
        x = (width - fitted.shape[1]) // 2
        canvas[y : y + fitted.shape[0], x : x + fitted.shape[1]] = fitted
    return canvas


def build_demo_episode(
    scenes: list[list[Path]],
    target: Path,
    *,
    shot_seconds: int = SHOT_SECONDS,
    on_frame: Callable[[int, int], None] | None = None,
) -> Path:
    """A portrait H.264 clip: one scene a shot, a slow camera pan and zoom, a hard cut between shots.
    `on_frame(frames_encoded, frames_in_all)` is called after each frame."""
    width, height = DEMO_SIZE
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part.mp4")
    rng = np.random.default_rng(7)
    with av.open(str(partial), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(DEMO_FPS, 1))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        readable = readable_scenes(scenes)
        frames = shot_seconds * DEMO_FPS
        for shot, scene in enumerate(readable):
            images = [np.asarray(cv2.imread(str(path), cv2.IMREAD_COLOR), dtype=np.uint8) for path in scene]
            canvas = _shot_canvas(images, rng.integers(40, 200, size=3))
            for index in range(frames):
                progress = index / frames
                # The camera window shrinks by 8% (zoom in) while drifting down and right.
                crop_w, crop_h = (
                    int(canvas.shape[1] * (1 - 0.08 * progress)),
                    int(canvas.shape[0] * (1 - 0.08 * progress)),
                )
                x = int((canvas.shape[1] - crop_w) * progress)
                y = int((canvas.shape[0] - crop_h) * progress)
                window = canvas[y : y + crop_h, x : x + crop_w]
                frame = np.asarray(cv2.resize(window, (width, height)), dtype=np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                    container.mux(packet)
                if on_frame is not None:
                    on_frame(shot * frames + index + 1, len(readable) * frames)
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(target)
    return target
