"""`reelcart demo`: a brand, a catalog and an episode on this machine, offline, then the server.

With ../shared present the catalog is the 31 packaged products of GroceryStoreDataset (real packshots
and descriptions) and the episode is a portrait clip cut from those packshots. Without it, the demo
draws its own packshots so that it still runs anywhere.
"""

from __future__ import annotations

import csv
import os
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from rich.console import Console
from sqlmodel import Session, col, select

from api.auth import issue_api_key
from api.commands.catalog import import_catalog_file
from api.db import create_db_engine, upgrade_database
from api.models import ApiKeyScope, Brand, Episode, ProductImage
from api.services.episodes import register_episode
from api.settings import ApiSettings

console = Console()

DEMO_SLUG = "demo-grocer"
DEMO_FPS = 30
DEMO_SIZE = (540, 960)  # portrait 9:16, like the micro-dramas players show
SHOT_SECONDS = 3


@dataclass(frozen=True)
class DemoResult:
    brand_slug: str
    api_key: str
    episode_id: str
    products: int


def find_shared_dir() -> Path | None:
    configured = os.environ.get("REELCART_SHARED_DIR")
    for candidate in ([Path(configured)] if configured else []) + [Path.cwd().parent / "shared"]:
        if (candidate / "data" / "grocery-dev" / "classes.csv").is_file():
            return candidate.resolve()
    return None


def _say(step: str, message: str) -> None:
    console.print(f"[bold cyan]{step}[/] {message}", highlight=False)


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
            vendor = title.split()[0] if title.split()[0] not in (kind, "Oat", "Soy") else ""
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


def build_demo_episode(packshots: list[Path], target: Path, *, shots: int = 5) -> Path:
    """A portrait H.264 clip: one product per shot with a slow pan and zoom, a hard cut between shots."""
    width, height = DEMO_SIZE
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part.mp4")
    rng = np.random.default_rng(7)
    with av.open(str(partial), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(DEMO_FPS, 1))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for shot in range(shots):
            packshot = cv2.imread(str(packshots[shot % len(packshots)]), cv2.IMREAD_COLOR)
            if packshot is None:
                continue
            tint = rng.integers(40, 200, size=3)
            background = np.linspace(0.6, 1.0, height, dtype=np.float32)[:, None, None] * tint[None, None, :]
            background = np.repeat(background, width, axis=1).astype(np.uint8)
            frames = SHOT_SECONDS * DEMO_FPS
            for index in range(frames):
                progress = index / frames
                scale = 0.45 + 0.1 * progress  # slow zoom in
                box_w = int(width * scale)
                box_h = int(box_w * packshot.shape[0] / packshot.shape[1])
                x = int((width - box_w) * (0.2 + 0.6 * progress))  # pan left to right
                y = int(height * 0.45 - box_h / 2)
                frame = background.copy()
                resized = cv2.resize(packshot, (box_w, box_h), interpolation=cv2.INTER_AREA)
                y0, y1 = max(y, 0), min(y + box_h, height)
                frame[y0:y1, x : x + box_w] = resized[y0 - y : y1 - y, : width - x]
                video_frame = av.VideoFrame.from_ndarray(frame, format="bgr24")
                for packet in stream.encode(video_frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(target)
    return target


def prepare_demo(settings: ApiSettings) -> DemoResult:
    """Everything but serving; idempotent apart from issuing a fresh demo key each run."""
    _say("1/5", f"database {settings.database_url} (migrating to the latest schema)")
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    demo_dir = settings.media_dir / "demo"
    with Session(engine, expire_on_commit=False) as session:
        brand = session.exec(select(Brand).where(Brand.slug == DEMO_SLUG)).first()
        if brand is None:
            brand = Brand(name="Demo Grocer", slug=DEMO_SLUG, auto_approve_threshold=0.9)
            session.add(brand)
            session.commit()
        _say("2/5", f"brand {brand.name!r} ({brand.slug})")

        images = session.exec(
            select(ProductImage)
            .where(ProductImage.brand_id == brand.id)
            .order_by(col(ProductImage.created_at))
        ).all()
        if not images:
            shared = find_shared_dir()
            if shared is not None:
                _say(
                    "3/5",
                    f"importing the GroceryStoreDataset packaged products from {shared}/data/grocery-dev",
                )
                catalog_file = write_grocery_catalog(shared, demo_dir)
            else:
                _say("3/5", "../shared not found: importing a small drawn catalog instead")
                catalog_file = write_drawn_catalog(demo_dir)
            import_catalog_file(session, brand.id, catalog_file, settings.media_dir)
            session.commit()
            images = session.exec(select(ProductImage).where(ProductImage.brand_id == brand.id)).all()
        else:
            _say("3/5", f"catalog already imported ({len(images)} product images)")

        episode = session.exec(select(Episode).where(Episode.brand_id == brand.id)).first()
        if episode is None:
            _say("4/5", "cutting a 15 s portrait demo episode from the packshots (PyAV, H.264)")
            packshots = [Path(image.path) for image in images if image.path][:5]
            video = build_demo_episode(packshots, demo_dir / "demo-episode.mp4")
            episode = register_episode(
                session,
                settings,
                brand_id=brand.id,
                title="Demo episode: the breakfast table",
                path=video,
                source="path",
            )
            session.commit()
        else:
            _say("4/5", f"demo episode already registered ({episode.id})")
        issued = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name="demo")
        session.commit()
        product_count = len({image.product_id for image in images})
    engine.dispose()
    return DemoResult(
        brand_slug=DEMO_SLUG, api_key=issued.secret, episode_id=str(episode.id), products=product_count
    )


def run_demo(settings: ApiSettings, *, host: str | None, port: int | None, serve: bool) -> DemoResult:
    result = prepare_demo(settings)
    base = f"http://{host or settings.host}:{port or settings.port}"
    _say("5/5", "ready")
    console.print(
        f"\n  API docs     {base}/docs\n"
        f"  health       {base}/healthz\n"
        f"  demo key     {result.api_key}   (brand {result.brand_slug}, shown once)\n"
        f"  catalog      curl -H 'Authorization: Bearer {result.api_key}' {base}/v1/products\n"
        f"  timeline     {base}/v1/episodes/{result.episode_id}/timeline\n",
        highlight=False,
        soft_wrap=True,
    )
    if serve:
        import uvicorn  # noqa: PLC0415

        from api.app import create_app  # noqa: PLC0415

        uvicorn.run(
            create_app(settings), host=host or settings.host, port=port or settings.port, log_level="info"
        )
    return result
