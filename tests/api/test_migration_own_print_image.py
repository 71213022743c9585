"""Migration 0011 names the image a product's own-print marks were read on until then: its first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from api.catalog.models import Product
from api.db import upgrade_database

_product = sa.table(
    "product",
    sa.column("id", sa.Uuid()),
    sa.column("brand_id", sa.Uuid()),
    sa.column("title", sa.String()),
    sa.column("vendor", sa.String()),
    sa.column("description", sa.String()),
    sa.column("own_print", sa.JSON()),
    sa.column("created_at", sa.DateTime()),
    sa.column("updated_at", sa.DateTime()),
)
_image = sa.table(
    "productimage",
    sa.column("id", sa.Uuid()),
    sa.column("product_id", sa.Uuid()),
    sa.column("brand_id", sa.Uuid()),
    sa.column("position", sa.Integer()),
    sa.column("created_at", sa.DateTime()),
)


def test_marks_made_before_0011_stay_on_the_first_image_and_unmarked_products_name_none(
    tmp_path: Path,
) -> None:
    # Given a database at 0010 with a marked product (two images, the first at position 0) and an
    # unmarked one. Foreign keys are not enforced by a bare SQLite engine, so no brand row is needed.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade_database(engine, "0010")
    brand, marked, plain = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first, second, plain_image = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for product_id, boxes in ((marked, [[0.1, 0.2, 0.5, 0.6]]), (plain, [])):
            connection.execute(
                sa.insert(_product).values(
                    id=product_id,
                    brand_id=brand,
                    title="t",
                    vendor="",
                    description="",
                    own_print=boxes,
                    created_at=now,
                    updated_at=now,
                )
            )
        for image_id, product_id, position in (
            (second, marked, 1),
            (first, marked, 0),
            (plain_image, plain, 0),
        ):
            connection.execute(
                sa.insert(_image).values(
                    id=image_id, product_id=product_id, brand_id=brand, position=position, created_at=now
                )
            )

    # When it is upgraded
    upgrade_database(engine)

    # Then the marked product names its first image, the other none
    with Session(engine) as session:
        got = {
            row.id: row.own_print_image_id
            for row in (session.get(Product, marked), session.get(Product, plain))
            if row
        }
    assert got == {marked: first, plain: None}
