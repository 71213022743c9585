"""What every command shares: settings, the database, brand lookup, and failing with one line."""

from __future__ import annotations

import uuid
from typing import NoReturn

import typer
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from api.brands.models import Brand
from api.db import alembic_config, create_db_engine
from api.settings import ApiSettings, get_settings

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Exit non-zero with a one-line reason on stderr."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> ApiSettings:
    try:
        return get_settings()
    except ValueError as error:
        fail(f"invalid settings: {str(error).splitlines()[-1].strip() or error}")


def open_database(settings: ApiSettings, *, require_current: bool = True) -> Engine:
    engine = create_db_engine(settings.database_url)
    if require_current:
        try:
            with engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_revision()
        except OperationalError as error:
            fail(f"cannot reach the database at {settings.database_url}: {error.orig}")
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        if current != head:
            fail(
                f"database schema is at {current or 'nothing'} but the code needs {head}; "
                "run `reelcart db upgrade`"
            )
    return engine


def find_brand(session: Session, ref: str) -> Brand:
    """A brand by slug or id."""
    brand = session.exec(select(Brand).where(Brand.slug == ref)).first()
    if brand is None:
        try:
            brand = session.get(Brand, uuid.UUID(ref))
        except ValueError:
            brand = None
    if brand is None:
        fail(f"no brand {ref!r} (use its slug or id; `reelcart brand create` makes one)")
    return brand
