"""Migrations 0010-0012 on databases that hold data: the own-print marks keep the image they were read on
(0011 names the first), and SQLite's table rebuilds work with its foreign keys enforced, both ways."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, text
from sqlmodel import Session

from api.brands.models import Brand
from api.catalog.models import Product, ProductImage, Variant
from api.db import alembic_config, create_db_engine, upgrade_database


def _catalog(engine: Engine) -> tuple[Product, ProductImage, ProductImage]:
    """A brand with a marked product (two images and a variant, rows pointing at the brand and the
    product) and an unmarked one."""
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(name="Yoggi", slug="yoggi")
        session.add(brand)
        session.flush()
        marked = Product(brand_id=brand.id, title="Yoggi Strawberry", own_print=[[0.1, 0.2, 0.5, 0.6]])
        plain = Product(brand_id=brand.id, title="Yoggi Plain")
        session.add_all([marked, plain])
        session.flush()
        first = ProductImage(
            product_id=marked.id, brand_id=brand.id, position=0, source_url="https://x.test/a.jpg"
        )
        second = ProductImage(
            product_id=marked.id, brand_id=brand.id, position=1, source_url="https://x.test/b.jpg"
        )
        session.add_all([first, second])
        session.add(
            Variant(
                product_id=marked.id, brand_id=brand.id, sku="YOG-S", price=Decimal("21.90"), currency="SEK"
            )
        )
        session.flush()
        # Placed on the second image today; before 0011 marks were read on the first.
        marked.own_print_image_id = second.id
        session.commit()
        return marked, first, second


def test_marks_made_before_0011_are_on_the_first_image_and_every_step_runs_on_a_populated_sqlite(
    tmp_path: Path,
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'populated.db'}")
    upgrade_database(engine)
    marked, first, _ = _catalog(engine)

    # When the database goes back before 0011 (and before the marks existed at all) and up again
    command.downgrade(alembic_config(engine), "0010")
    upgrade_database(engine)
    with Session(engine) as session:
        backfilled = session.get(Product, marked.id)
        assert backfilled is not None
        assert (backfilled.own_print, backfilled.own_print_image_id) == ([[0.1, 0.2, 0.5, 0.6]], first.id)
    command.downgrade(alembic_config(engine), "0009")
    upgrade_database(engine)

    # Then every row is still there, foreign keys are enforced again and none is broken
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
        counts = [
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("brand", "product", "productimage", "variant")
        ]
    assert counts == [1, 2, 2, 1]
    with Session(engine) as session:
        again = session.get(Product, marked.id)
        assert again is not None
        assert (again.own_print, again.own_print_image_id) == ([], None)  # 0010's downgrade drops the marks
