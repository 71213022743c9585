"""What every command shares: settings, the database, brand lookup, and failing with one line."""

from __future__ import annotations

import uuid
from typing import NoReturn

import typer
from alembic.script import ScriptDirectory
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from api.brands.models import Brand
from api.db import alembic_config, create_db_engine, current_revision
from api.settings import ApiSettings, get_settings
from commerce.settings import describe_settings_error
from tagger.settings import TaggerSettings

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Exit non-zero with a one-line reason on stderr."""
    # Escaped: a reason quotes brackets (`reelcart[celery]`, a JSON list) that rich would take for markup.
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> ApiSettings:
    try:
        return get_settings()
    except ValueError as error:
        fail(f"invalid settings: {describe_settings_error(error)}")


def load_tagger_settings(**overrides: object) -> TaggerSettings:
    """The tagging settings from the environment, `overrides` (command-line options) winning over it,
    so an option given for a variable set wrong replaces it rather than failing on it."""
    try:
        return TaggerSettings(**overrides)  # type: ignore[arg-type]  # pydantic checks each value
    except ValueError as error:
        fail(f"invalid settings: {describe_settings_error(error)}")


def open_database(settings: ApiSettings, *, require_current: bool = True) -> Engine:
    engine = create_db_engine(settings.database_url)
    if require_current:
        try:
            current = current_revision(engine)
        except OperationalError as error:
            fail(f"cannot reach the database at {_shown(engine)}: {_reason(error)}")
        _require_head(engine, current)
    return engine


def check_schema_if_reachable(settings: ApiSettings) -> None:
    """For `serve`, which starts without its database (/readyz answers 503 until it does): a database
    that answers with a schema other than the code's is refused, since every route would answer 503 while
    /readyz said 200. One that does not answer yet is said and served."""
    engine = create_db_engine(settings.database_url)
    try:
        try:
            current = current_revision(engine)
        except OperationalError as error:
            said = f"the database at {_shown(engine)} does not answer ({_reason(error)}); serving anyway"
            errors.print(f"[bold yellow]warning:[/] {escape(said)}", highlight=False, soft_wrap=True)
            return
        _require_head(engine, current)
    finally:
        engine.dispose()


def _require_head(engine: Engine, current: str | None) -> None:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    if current != head:
        fail(
            f"database schema is at {current or 'nothing'} but the code needs {head}; "
            "run `reelcart db upgrade`"
        )


def _reason(error: OperationalError) -> str:
    # The driver's first line (psycopg adds hints on more lines; the reason is said in one).
    lines = str(error.orig).strip().splitlines()
    return lines[0] if lines else type(error.orig).__name__


def _shown(engine: Engine) -> str:
    # The URL as an operator wrote it, less its password: this line ends up in logs.
    return engine.url.render_as_string(hide_password=True)


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
