"""Migration 0014 on a database that holds link jobs: those queued before it are episode- or brand-wide
(no product), and going back and forth keeps every row."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlmodel import Session

from api.brands.models import Brand
from api.catalog.models import Product
from api.db import alembic_config, create_db_engine, upgrade_database
from api.linking.models import LinkJob


def test_link_jobs_made_before_0014_have_no_product_and_survive_a_round_trip(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'populated.db'}")
    upgrade_database(engine)
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(name="Yoggi", slug="yoggi")
        session.add(brand)
        session.flush()
        product = Product(brand_id=brand.id, title="Yoggi Strawberry")
        session.add(product)
        session.flush()
        scoped = LinkJob(brand_id=brand.id, product_id=product.id)
        session.add(scoped)
        session.commit()

    # When the database goes back before 0014 (the column goes) and up again
    command.downgrade(alembic_config(engine), "0013")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM linkjob")).scalar() == 1
    upgrade_database(engine)

    # Then the job is still there, brand-wide as every job made before 0014 is
    with Session(engine) as session:
        again = session.get(LinkJob, scoped.id)
        assert again is not None
        assert (again.brand_id, again.product_id, again.index_only) == (brand.id, None, False)
