"""Alembic environment: runs against the engine ReelCart hands it (see api.db.alembic_config)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import api.tables  # noqa: F401  (registers every table on the metadata)
from api.columns import EnumText, UTCDateTime

target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import application code: UTCDateTime is a plain timestamptz column.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EnumText):
        return f"sa.String(length={obj.length})"
    return False


def run_migrations() -> None:
    engine = context.config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError("run migrations through `reelcart db upgrade` (api.db.upgrade_database)")
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a column by rebuilding its table (copy, drop, rename). With foreign keys
            # enforced (api.db turns them on), dropping a table other rows point at fails, so a migration
            # that worked on an empty database broke every one with a brand in it. SQLite's own recipe:
            # keys off outside the transaction, then check them all before committing.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
                render_item=render_item,
                # PostgreSQL: one transaction per migration, as Alembic asks of migrations that step out
                # of theirs (0027 builds an index CONCURRENTLY): the ones before it are committed first,
                # so a failed build is retried from there. SQLite keeps one transaction for its key check.
                transaction_per_migration=not sqlite,
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                    raise RuntimeError(f"the migration left rows pointing at missing rows: {broken[:5]}")
            connection.commit()
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


run_migrations()
