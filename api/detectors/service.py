"""What a brand's detector is trained from, starting train jobs, and which detector a tag job uses."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.catalog.models import Product, ProductImage
from api.columns import utcnow
from api.detectors.exceptions import NoPackshots, TrainJobInProgress
from api.detectors.models import BrandDetector, DetectorTrainJob
from api.episodes.models import Episode, EpisodeStatus
from api.jobs.models import JobState
from api.jobs.queue import JobKind, JobQueue, JobRef
from api.settings import ApiSettings
from tagger.training.request import TrainOptions, TrainRequest
from tagger.training.synthetic import ProductShots, SyntheticConfig

ACTIVE = (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True, slots=True)
class TrainingSet:
    """The products a detector is trained on (class name: the product id) and their fingerprint."""

    products: tuple[ProductShots, ...]
    fingerprint: str


def training_set(session: Session, brand_id: uuid.UUID) -> TrainingSet:
    """Every product of the brand with at least one stored image, in a stable order."""
    images: dict[uuid.UUID, list[ProductImage]] = {}
    for image in session.exec(
        select(ProductImage)
        .where(ProductImage.brand_id == brand_id, col(ProductImage.path).is_not(None))
        .order_by(col(ProductImage.position), col(ProductImage.id))
    ).all():
        images.setdefault(image.product_id, []).append(image)
    product_ids = session.exec(
        select(Product.id).where(Product.brand_id == brand_id).order_by(col(Product.id))
    ).all()
    digest = hashlib.sha256()
    products = []
    for product_id in product_ids:
        mine = images.get(product_id, [])
        if not mine:
            continue
        digest.update(str(product_id).encode())
        for image in mine:
            digest.update(f"|{image.path}|{image.sha256 or ''}".encode())
        digest.update(b"\n")
        products.append(ProductShots(name=str(product_id), packshots=tuple(Path(str(i.path)) for i in mine)))
    return TrainingSet(tuple(products), digest.hexdigest())


def newest_detector(session: Session, brand_id: uuid.UUID) -> BrandDetector | None:
    return session.exec(
        select(BrandDetector)
        .where(BrandDetector.brand_id == brand_id)
        .order_by(col(BrandDetector.created_at).desc())
    ).first()


def is_stale(session: Session, detector: BrandDetector) -> bool:
    """True once the brand's products or their images differ from what the detector was trained on:
    derived from the catalog itself, so every way a catalog changes (API, import, sync) counts."""
    return training_set(session, detector.brand_id).fingerprint != detector.catalog_fingerprint


def queue_train_job(session: Session, queue: JobQueue | None, brand_id: uuid.UUID) -> DetectorTrainJob:
    """A queued train job for the brand, handed to `queue` (None: the caller runs it itself, as the
    CLI does); `TrainJobInProgress` when one is queued or running (the
    database's partial unique index settles two requests that race past this check). Commits."""
    active = session.exec(
        select(DetectorTrainJob).where(
            DetectorTrainJob.brand_id == brand_id, col(DetectorTrainJob.state).in_(ACTIVE)
        )
    ).first()
    if active is not None:
        raise TrainJobInProgress(active.id, active.state)
    data = training_set(session, brand_id)
    if not data.products:
        raise NoPackshots()
    # A job the caller runs itself is handed out already: a running service's supervisor leaves it alone.
    handed_out = utcnow() if queue is None else None
    job = DetectorTrainJob(brand_id=brand_id, products=len(data.products), published_at=handed_out)
    session.add(job)
    try:
        session.commit()
    except IntegrityError as error:
        session.rollback()
        winner = session.exec(
            select(DetectorTrainJob).where(
                DetectorTrainJob.brand_id == brand_id, col(DetectorTrainJob.state).in_(ACTIVE)
            )
        ).first()
        if winner is None:
            raise
        raise TrainJobInProgress(winner.id, winner.state) from error
    if queue is not None:
        queue.enqueue(JobRef(JobKind.TRAIN, job.id))
    session.refresh(job)
    return job


def images_per_class(settings: ApiSettings, classes: int) -> int:
    """Training images per product: the configured number, fewer for a large catalog so the whole
    set stays under `train_max_images` (training time grows with images, not with classes)."""
    bounded = settings.train_max_images // max(classes, 1)
    return max(settings.train_min_images_per_class, min(settings.train_images_per_class, bounded))


def detector_dir(settings: ApiSettings, brand_id: uuid.UUID) -> Path:
    return settings.model_dir / "brands" / str(brand_id)


def train_request(
    session: Session, settings: ApiSettings, brand_id: uuid.UUID, slug: str, name: str
) -> tuple[TrainRequest, TrainingSet]:
    data = training_set(session, brand_id)
    if not data.products:
        raise NoPackshots()
    backgrounds = list(settings.train_backgrounds)
    if settings.train_episode_backgrounds:
        backgrounds += [
            Path(path)
            for path in session.exec(
                select(Episode.media_path)
                .where(
                    Episode.brand_id == brand_id,
                    # Not an upload still being transcoded, or one that could not be: no usable frames.
                    col(Episode.status).not_in([EpisodeStatus.PROCESSING, EpisodeStatus.UNPLAYABLE]),
                )
                .order_by(col(Episode.id))
            ).all()
        ]
    request = TrainRequest(
        name=name,
        brand=slug,
        products=data.products,
        backgrounds=tuple(backgrounds),
        out_dir=detector_dir(settings, brand_id),
        synthetic=SyntheticConfig(
            image_size=settings.train_image_size,
            train_per_class=images_per_class(settings, len(data.products)),
            val_per_class=settings.train_val_per_class,
        ),
        options=TrainOptions(
            model_yaml=settings.train_model_yaml,
            epochs=settings.train_epochs,
            time_hours=settings.train_time_hours,
            batch=settings.train_batch,
            device=settings.train_device,
            threads=settings.train_threads,
            single_class=settings.train_single_class,
        ),
        frames_per_video=settings.train_frames_per_video,
    )
    return request, data


class BrandDetectorCards:
    """The card of each brand's newest trained detector, read from the database per tag job."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def newest_card(self, brand_id: uuid.UUID) -> Path | None:
        with Session(self._engine) as session:
            detector = newest_detector(session, brand_id)
            return Path(detector.card_path) if detector is not None else None
