"""Rows for the end-to-end browser tests, written straight to the real API's database with SQLModel (as
tests/api/factories.py does), and small readers for what the browser left behind there."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select

from api.auth import issue_api_key
from api.brands.models import ApiKey, ApiKeyScope, Brand, CheckoutProviderName
from api.catalog.models import Product, Variant
from api.checkout.models import CheckoutSession
from api.columns import utcnow
from api.episodes.models import Episode, EpisodeStatus
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline
from tests.web import factories
from tests.web.media import TestVideo

Row = TypeVar("Row", bound=SQLModel)


@dataclass(frozen=True)
class SeededBrand:
    id: uuid.UUID
    slug: str
    key: str
    key_name: str

    @property
    def actor(self) -> str:
        """What the API writes as a ReviewAction's actor for this brand's key."""
        return f"key:{self.key_name}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass(frozen=True)
class SeededVariant:
    id: uuid.UUID
    sku: str
    title: str
    price: str


@dataclass(frozen=True)
class SeededProduct:
    id: uuid.UUID
    title: str
    variants: tuple[SeededVariant, ...]


@dataclass(frozen=True)
class PlacementSeed:
    """A placement as the tagger would leave it: candidates best first, a calibrated link confidence."""

    label: str
    start_ms: int
    end_ms: int
    keyframes: tuple[factories.Keyframe, ...]
    candidates: tuple[tuple[SeededProduct, float], ...]
    link_confidence: float | None
    status: PlacementStatus = PlacementStatus.PROPOSED
    chosen: SeededProduct | None = None
    confidence: float = 0.8
    thumbnail: bool = True


@dataclass(frozen=True)
class SeededPlacement:
    id: uuid.UUID
    label: str
    seed: PlacementSeed = field(repr=False)


def seed_brand(engine: Engine, name: str) -> SeededBrand:
    """A brand with one API key; the slug is unique so every test gets its own brand-scoped world."""
    slug = f"{name}-{secrets.token_hex(3)}"
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(name=name.replace("-", " ").title(), slug=slug)
        session.add(brand)
        session.flush()
        issued = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name=f"{slug}-reviewer")
        session.commit()
        return SeededBrand(id=brand.id, slug=slug, key=issued.secret, key_name=issued.record.name)


def seed_colleague(engine: Engine, brand: SeededBrand, name: str) -> SeededBrand:
    """The same brand acting through another key, as a second reviewer would."""
    with Session(engine, expire_on_commit=False) as session:
        issued = issue_api_key(
            session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name=f"{brand.slug}-{name}"
        )
        session.commit()
        return replace(brand, key=issued.secret, key_name=issued.record.name)


def seed_product(engine: Engine, brand: SeededBrand, product: factories.Product) -> SeededProduct:
    """A catalog product with the factory's variants; each variant carries a Shopify variant GID."""
    with Session(engine, expire_on_commit=False) as session:
        row = Product(brand_id=brand.id, title=product.title, vendor=product.brand)
        session.add(row)
        session.flush()
        variants = []
        for variant in product.variants:
            stored = Variant(
                product_id=row.id,
                brand_id=brand.id,
                sku=variant.sku,
                title=variant.title,
                price=Decimal(variant.price),
                currency=variant.currency,
                available=variant.available,
                shopify_variant_gid=f"gid://shopify/ProductVariant/{secrets.randbelow(10**12) + 1}",
            )
            session.add(stored)
            session.flush()
            variants.append(
                SeededVariant(id=stored.id, sku=variant.sku, title=variant.title, price=variant.price)
            )
        session.commit()
        return SeededProduct(id=row.id, title=product.title, variants=tuple(variants))


def seed_episode(
    engine: Engine,
    brand: SeededBrand,
    video: TestVideo,
    *,
    title: str = "Episode 1: The Taste Test",
    status: EpisodeStatus = EpisodeStatus.TAGGED,
    media_error: str | None = None,
    shots: list[list[int]] | None = None,
) -> uuid.UUID:
    with Session(engine, expire_on_commit=False) as session:
        episode = Episode(
            shots=shots,
            brand_id=brand.id,
            title=title,
            media_path=str(video.path),
            size_bytes=video.path.stat().st_size,
            duration_ms=video.duration_ms,
            fps=video.fps,
            time_base=f"1/{video.fps * 512}",
            width=video.width,
            height=video.height,
            codec="h264",
            status=status,
            media_error=media_error,
        )
        session.add(episode)
        session.commit()
        return episode.id


def _thumbnail(media_dir: Path, label: str) -> str:
    """A small SVG still, so the console's queue shows a picture through the signed thumbnail route."""
    path = media_dir / "thumbnails" / f"{uuid.uuid4()}.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="90" height="160">'
        '<rect width="90" height="160" fill="#2a3350"/>'
        f'<text x="8" y="86" fill="#fff" font-size="14">{label}</text></svg>',
        encoding="utf-8",
    )
    return str(path)


def seed_placements(
    engine: Engine, settings: ApiSettings, episode_id: uuid.UUID, seeds: Sequence[PlacementSeed]
) -> list[SeededPlacement]:
    """Write the placements, then rebuild the episode's public timeline as a review change would."""
    with Session(engine, expire_on_commit=False) as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        fps = episode.fps
        seeded = []
        for seed in seeds:
            placement = Placement(
                brand_id=episode.brand_id,
                episode_id=episode.id,
                start_ms=seed.start_ms,
                end_ms=seed.end_ms,
                start_frame=round(seed.start_ms * fps / 1000),
                end_frame=round(seed.end_ms * fps / 1000),
                label=seed.label,
                confidence=seed.confidence,
                keyframes=[{"t_ms": k.t_ms, "box": list(k.box)} for k in seed.keyframes],
                sku_candidates=[
                    {
                        "product_id": str(product.id),
                        "variant_id": str(product.variants[0].id),
                        "title": product.title,
                        "confidence": score,
                    }
                    for product, score in seed.candidates
                ],
                link_confidence=seed.link_confidence,
                chosen_product_id=seed.chosen.id if seed.chosen else None,
                status=seed.status,
                thumbnail_path=_thumbnail(settings.media_dir, seed.label) if seed.thumbnail else None,
            )
            session.add(placement)
            session.flush()
            seeded.append(SeededPlacement(id=placement.id, label=seed.label, seed=seed))
        rebuild_timeline(session, episode, settings)
        session.commit()
        return seeded


def seed_checkout(
    engine: Engine, brand: SeededBrand, placement_id: uuid.UUID, variant: SeededVariant, click_id: str
) -> None:
    """A checkout a shopper started from the placement's hotspot for `variant` (open, not paid)."""
    with Session(engine) as session:
        placement = session.get(Placement, placement_id)
        assert placement is not None
        session.add(
            CheckoutSession(
                brand_id=brand.id,
                click_id=click_id,
                placement_id=placement.id,
                episode_id=placement.episode_id,
                variant_id=variant.id,
                quantity=1,
                provider=CheckoutProviderName.SHOPIFY,
                amount=Decimal(variant.price),
                currency="EUR",
            )
        )
        session.commit()


def edit_placement_behind_the_consoles_back(engine: Engine, placement_id: uuid.UUID, **changes: Any) -> int:
    """A colleague's concurrent edit straight in the database: bumps the version the console holds."""
    with Session(engine) as session:
        placement = session.get(Placement, placement_id)
        assert placement is not None
        for name, value in changes.items():
            setattr(placement, name, value)
        placement.version += 1
        placement.updated_at = utcnow()
        session.add(placement)
        session.commit()
        return placement.version


def revoke_keys(engine: Engine, brand: SeededBrand) -> None:
    with Session(engine) as session:
        for key in session.exec(select(ApiKey).where(ApiKey.brand_id == brand.id)).all():
            key.revoked_at = utcnow()
            session.add(key)
        session.commit()


def rows(engine: Engine, model: type[Row], *where: Any) -> list[Row]:
    """Rows of `model` matching `where`, oldest first where the table has a creation time."""
    with Session(engine, expire_on_commit=False) as session:
        statement = select(model).where(*where)
        created = getattr(model, "created_at", None) or getattr(model, "at", None)
        if created is not None:
            statement = statement.order_by(col(created))
        return list(session.exec(statement).all())
