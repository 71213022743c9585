"""Migration 0013 on a database that holds products: those made before it start at version 1, and
going back and forth keeps every row."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlmodel import Session

from api.brands.models import Brand
from api.catalog.models import Product
from api.db import alembic_config, create_db_engine, upgrade_database


def test_products_made_before_0013_start_at_version_1(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'populated.db'}")
    upgrade_database(engine)
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(name="Yoggi", slug="yoggi")
        session.add(brand)
        session.flush()
        product = Product(brand_id=brand.id, title="Yoggi Strawberry", version=5)
        session.add(product)
        session.commit()

    # When the database goes back before 0013 (the column goes) and up again
    command.downgrade(alembic_config(engine), "0012")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM product")).scalar() == 1
    upgrade_database(engine)

    # Then the product is still there, at version 1 as a product made before 0013 is
    with Session(engine) as session:
        again = session.get(Product, product.id)
        assert again is not None
        assert (again.title, again.version) == ("Yoggi Strawberry", 1)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
