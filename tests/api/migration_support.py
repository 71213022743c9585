"""What the migration tests start from: a database file at the newest revision holding one brand, to
take back to the revision under test, fill as that revision left rows, and bring up again."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from pathlib import Path
from typing import cast

from sqlalchemy import Column, Engine, MetaData, Table, insert
from sqlmodel import Session, SQLModel

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


def insert_as_of_then(engine: Engine, row: SQLModel, *, without: Collection[str]) -> None:
    """Store `row` (a table model built with today's columns) at an older revision, leaving out the
    columns that revision does not have yet (`without`): what code of that time wrote."""
    table = cast(Table, type(row).__table__)  # type: ignore[attr-defined]
    # The table as it was: its columns then, with no defaults of today's to fill in the ones left out.
    then = Table(
        table.name, MetaData(), *(Column(c.name, c.type) for c in table.columns if c.name not in without)
    )
    values = {column.name: getattr(row, column.name) for column in then.columns}
    with engine.begin() as connection:
        connection.execute(insert(then).values(**values))
