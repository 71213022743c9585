"""`reelcart brand create` and `reelcart keys create|list|revoke`: accounts and their API keys."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Annotated

import typer
from sqlmodel import Session, select

from api.auth import issue_api_key
from api.brands.models import ApiKey, ApiKeyScope, Brand
from api.brands.schemas import ApiKeyPublic
from api.brands.service import list_api_keys, revoke_api_key
from api.cli._common import console, fail, find_brand, load_settings, open_database
from api.errors import ApiError


def register(app: typer.Typer) -> None:
    brands = typer.Typer(
        help="Brands: the accounts whose catalogs and episodes ReelCart holds.", no_args_is_help=True
    )
    keys = typer.Typer(help="API keys (shown once, stored as a hash).", no_args_is_help=True)
    brands.command("create")(create_brand)
    keys.command("create")(create_key)
    keys.command("list")(list_keys)
    keys.command("revoke")(revoke_key)
    app.add_typer(brands, name="brand")
    app.add_typer(keys, name="keys")


def create_brand(
    name: Annotated[str, typer.Argument(help="Display name, e.g. 'Orchard Co'")],
    slug: Annotated[str | None, typer.Option(help="URL-safe id; derived from the name if omitted")] = None,
) -> None:
    """Create a brand."""
    slug = slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,79}", slug):
        fail(f"slug {slug!r} must be 2-80 characters of a-z, 0-9 and '-'")
    engine = open_database(load_settings())
    with Session(engine, expire_on_commit=False) as session:
        if session.exec(select(Brand).where(Brand.slug == slug)).first() is not None:
            fail(f"a brand with slug {slug!r} already exists")
        brand = Brand(name=name, slug=slug)
        session.add(brand)
        session.commit()
        console.print(f"created brand {brand.name!r} (slug {brand.slug}, id {brand.id})")


def create_key(
    brand: Annotated[str | None, typer.Option(help="Brand slug or id the key acts for")] = None,
    operator: Annotated[bool, typer.Option("--operator", help="An operator (admin) key instead")] = False,
    name: Annotated[str, typer.Option(help="A label to recognise the key by")] = "",
    expires_in: Annotated[
        int | None,
        typer.Option(
            "--expires-in", metavar="DAYS", min=1, max=3650, help="The key stops working DAYS days from now"
        ),
    ] = None,
) -> None:
    """Create an API key and print it once."""
    if operator == (brand is not None):
        fail("give exactly one of --brand SLUG or --operator")
    engine = open_database(load_settings())
    with Session(engine, expire_on_commit=False) as session:
        brand_id = find_brand(session, brand).id if brand is not None else None
        scope = ApiKeyScope.OPERATOR if operator else ApiKeyScope.BRAND
        lifetime = timedelta(days=expires_in) if expires_in is not None else None
        issued = issue_api_key(session, scope=scope, brand_id=brand_id, name=name, expires_in=lifetime)
        session.commit()
    expiry = f", expires {_when(issued.record.expires_at)}" if issued.record.expires_at else ""
    console.print(
        f"{scope} key {issued.record.id} (shown once, store it now{expiry}):", highlight=False, soft_wrap=True
    )
    typer.echo(issued.secret)


def list_keys(
    brand: Annotated[str | None, typer.Option(help="Only this brand's keys (slug or id)")] = None,
) -> None:
    """List keys, newest first: id, name, brand, prefix, created, expires, revoked (never a secret)."""
    engine = open_database(load_settings())
    with Session(engine) as session:
        brand_id = find_brand(session, brand).id if brand is not None else None
        listed = list_api_keys(session, brand_id=brand_id)
    if not listed:
        console.print("no keys" + (f" for brand {brand}" if brand else ""), highlight=False, soft_wrap=True)
        return
    # Plain aligned columns, one key a line: as easy to grep or cut as to read, at any terminal width.
    rows = [
        ("ID", "NAME", "BRAND", "PREFIX", "CREATED", "EXPIRES", "REVOKED"),
        *(_key_row(key) for key in listed),
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `reelcart keys list` shows it")],
) -> None:
    """Revoke a key: its next request gets 401."""
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        fail(f"{key_id!r} is not a key id (a UUID, as `reelcart keys list` shows)")
    engine = open_database(load_settings())
    with Session(engine) as session:
        stored = session.get(ApiKey, parsed)
        was_revoked = stored is not None and stored.revoked_at is not None
        try:
            key = revoke_api_key(session, parsed)
        except ApiError:
            fail(f"no API key {key_id}; `reelcart keys list` shows them")
        session.commit()
    owner = f"brand {key.brand_slug}" if key.brand_slug else f"{key.scope} key"
    when = _when(key.revoked_at)
    if was_revoked:
        message = f"key {key.id} ({owner}) was already revoked at {when}"
    else:
        message = f"revoked key {key.id} ({owner}, {key.prefix}…) at {when}"
    console.print(message, highlight=False, soft_wrap=True)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "-"


def _key_row(key: ApiKeyPublic) -> tuple[str, str, str, str, str, str, str]:
    owner = key.brand_slug or ("(operator)" if key.scope is ApiKeyScope.OPERATOR else "-")
    return (
        str(key.id),
        key.name or "-",
        owner,
        key.prefix,
        _when(key.created_at),
        _when(key.expires_at),
        _when(key.revoked_at),
    )
