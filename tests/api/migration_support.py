"""What the migration tests start from: a database file at the newest revision holding one brand, to
take back to the revision under test, fill as that revision left rows, and bring up again."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from api.brands.models import Brand
from api.db import create_db_engine, upgrade_database


def migrated_with_a_brand(tmp_path: Path) -> tuple[Engine, uuid.UUID]:
    """A SQLite database in `tmp_path`, migrated to the newest revision, with the brand Yoggi; its id."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'populated.db'}")
    upgrade_database(engine)
    with Session(engine) as session:
        brand = Brand(name="Yoggi", slug="yoggi")
        session.add(brand)
        session.commit()
        return engine, brand.id
