"""Migration 0021: image URLs that failed before it stay failed (their errors cannot say whether the
failure could pass); ones still to fetch are still fetched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from sqlmodel import Session, select

from api.catalog.models import ProductImage
from api.catalog.remote_images import pending_image_filter
from api.db import alembic_config, upgrade_database
from tests.api.factories import make_product
from tests.api.migration_support import migrated_with_a_brand


def test_images_that_failed_before_0021_are_not_tried_again(tmp_path: Path) -> None:
    engine, brand_id = migrated_with_a_brand(tmp_path)
    product, _ = make_product(engine, brand_id, "Pressed Apple", sku="PA-1")
    command.downgrade(alembic_config(engine), "0020")
    failed, waiting = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        for image_id, error in ((failed, "https://cdn.example/p.png answered HTTP 503"), (waiting, None)):
            connection.execute(
                sa.text(
                    "INSERT INTO productimage (id, product_id, brand_id, position, source_url, fetch_error, "
                    "created_at) VALUES (:id, :product, :brand, 0, 'https://cdn.example/p.png', :error, :now)"
                ),
                {
                    "id": image_id.hex,
                    "product": product.id.hex,
                    "brand": brand_id.hex,
                    "error": error,
                    "now": datetime.now(UTC),
                },
            )

    upgrade_database(engine)

    with Session(engine) as session:
        pending = session.exec(select(ProductImage.id).where(*pending_image_filter())).all()
        stored = session.get_one(ProductImage, failed)
    assert pending == [waiting]
    assert (stored.fetch_attempts, stored.fetch_retry_at) == (0, None)
