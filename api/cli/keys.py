"""`reelcart brand create` and `reelcart keys create`: accounts and their API keys."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from sqlmodel import Session, select

from api.auth import issue_api_key
from api.brands.models import ApiKeyScope, Brand
from api.cli._common import console, fail, find_brand, load_settings, open_database


def register(app: typer.Typer) -> None:
    brands = typer.Typer(
        help="Brands: the accounts whose catalogs and episodes ReelCart holds.", no_args_is_help=True
    )
    keys = typer.Typer(help="API keys (shown once, stored as a hash).", no_args_is_help=True)

    @brands.command("create")
    def create_brand(
        name: Annotated[str, typer.Argument(help="Display name, e.g. 'Orchard Co'")],
        slug: Annotated[
            str | None, typer.Option(help="URL-safe id; derived from the name if omitted")
        ] = None,
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

    @keys.command("create")
    def create_key(
        brand: Annotated[str | None, typer.Option(help="Brand slug or id the key acts for")] = None,
        operator: Annotated[bool, typer.Option("--operator", help="An operator (admin) key instead")] = False,
        name: Annotated[str, typer.Option(help="A label to recognise the key by")] = "",
    ) -> None:
        """Create an API key and print it once."""
        if operator == (brand is not None):
            fail("give exactly one of --brand SLUG or --operator")
        engine = open_database(load_settings())
        with Session(engine, expire_on_commit=False) as session:
            brand_id = find_brand(session, brand).id if brand is not None else None
            scope = ApiKeyScope.OPERATOR if operator else ApiKeyScope.BRAND
            issued = issue_api_key(session, scope=scope, brand_id=brand_id, name=name)
            session.commit()
        console.print(f"{scope} key (shown once, store it now):")
        typer.echo(issued.secret)

    app.add_typer(brands, name="brand")
    app.add_typer(keys, name="keys")
