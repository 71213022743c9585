"""Catalog use cases: create, read, update, delete products, variants and images, scoped to one brand."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import delete, func, or_
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from api.catalog.exceptions import AlreadySold, DuplicateSku, LastVariantShown
from api.catalog.models import Product, ProductImage, Variant
from api.catalog.schemas import (
    ImagePublic,
    ProductCreate,
    ProductPage,
    ProductPublic,
    ProductUpdate,
    VariantCreate,
    VariantPublic,
    VariantUpdate,
)
from api.checkout.models import CheckoutSession
from api.columns import utcnow
from api.errors import EditConflict, InvalidInput, NotFound
from api.ownership import get_owned
from api.patching import non_null_changes
from api.review.models import PRODUCT_DELETED, Placement, PlacementStatus, history_entry, placement_snapshot
from api.versioning import claim_next_version, etag, if_match_names
from commerce.exceptions import MoneyError
from commerce.money import Money

Row = TypeVar("Row", bound=SQLModel)


def image_url(image: ProductImage, public_base_url: str) -> str:
    """Referenced images keep their own URL (a shop's CDN serves shoppers better than we would), also
    once fetched for linking; uploaded ones are served by the API."""
    if image.source_url:
        return image.source_url
    return f"{public_base_url}/v1/images/{image.id}"


def image_public(image: ProductImage, public_base_url: str) -> ImagePublic:
    return ImagePublic(
        id=image.id,
        url=image_url(image, public_base_url),
        position=image.position,
        width=image.width,
        height=image.height,
        indexed=image.path is not None,
        fetch_error=image.fetch_error,
        fetch_retry_at=image.fetch_retry_at,
    )


def variant_public(variant: Variant) -> VariantPublic:
    money = Money(variant.price.normalize(), variant.currency)
    return VariantPublic(
        id=variant.id,
        product_id=variant.product_id,
        sku=variant.sku,
        title=variant.title,
        price=money.amount,
        currency=money.currency,
        available=variant.available,
    )


def product_public(session: Session, product: Product, public_base_url: str) -> ProductPublic:
    variants = session.exec(
        select(Variant)
        .where(Variant.product_id == product.id)
        .order_by(col(Variant.created_at), col(Variant.sku))
    ).all()
    # Ties (rows written before positions were kept distinct) are broken as the linker and the marks
    # break them, by age: "image 1" here is the image they call first.
    images = session.exec(
        select(ProductImage)
        .where(ProductImage.product_id == product.id)
        .order_by(col(ProductImage.position), col(ProductImage.created_at))
    ).all()
    return ProductPublic(
        id=product.id,
        title=product.title,
        vendor=product.vendor,
        description=product.description,
        own_print=[(box[0], box[1], box[2], box[3]) for box in product.own_print],
        own_print_image_id=product.own_print_image_id if product.own_print else None,
        variants=[variant_public(variant) for variant in variants],
        images=[image_public(image, public_base_url) for image in images],
        version=product.version,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def get_product(session: Session, brand_id: uuid.UUID, product_id: uuid.UUID) -> Product:
    return get_owned(session, Product, brand_id, product_id, "product")


def get_variant(session: Session, brand_id: uuid.UUID, variant_id: uuid.UUID) -> Variant:
    return get_owned(session, Variant, brand_id, variant_id, "variant")


def lock_product(session: Session, product: Product, *, deleting: bool = False) -> Product:
    """The product read again under a row lock held to the commit (PostgreSQL; SQLite has one writer).
    A product deleted since it was read is a 404, not an error: the deletion holds this lock too, so a
    change that waited on it finds the row gone. An edit's lock leaves the product's key to others
    (PostgreSQL's FOR NO KEY UPDATE): a link job or a reviewer putting the product on a placement does
    not wait for it; a deletion's (`deleting`) makes them wait."""
    # FOR UPDATE for a deletion, FOR NO KEY UPDATE for an edit.
    statement = select(Product).where(Product.id == product.id)
    locked = session.exec(_for_update(statement, key_share=not deleting)).first()
    if locked is None:
        raise NotFound("product")
    return locked


def _for_update(statement: SelectOfScalar[Row], *, key_share: bool = False) -> SelectOfScalar[Row]:
    # populate_existing: the row already in the session is overwritten by what the lock read.
    return statement.with_for_update(key_share=key_share).execution_options(populate_existing=True)


def has_variant(session: Session, product_id: uuid.UUID) -> bool:
    """Whether the product has something to buy: a hotspot of a product without a variant sells nothing
    (the overlay draws none, and the timeline leaves it out), so it is never approved."""
    return (
        session.exec(select(Variant.id).where(Variant.product_id == product_id).limit(1)).first() is not None
    )


def product_for_placement(
    session: Session, brand_id: uuid.UUID, product_id: uuid.UUID, *, nowait: bool = False
) -> Product | None:
    """The brand's product a reviewer (or the linker) is about to put on a placement, read under a key-share
    lock: a deletion that started first is waited for and then the product is gone (None), and one that
    starts later waits for this transaction, so it sees the placement and takes it off the product,
    instead of failing on the foreign key. `nowait`: a product being deleted raises PostgreSQL's
    lock_not_available (`OperationalError`) instead, for a caller holding other placements' locks."""
    product = session.exec(
        select(Product)
        .where(Product.id == product_id)
        .with_for_update(read=True, key_share=True, nowait=nowait)
    ).first()
    return product if product is not None and product.brand_id == brand_id else None


def checkouts_of(session: Session, variant_ids: Sequence[uuid.UUID]) -> int:
    """How many checkouts were started for these variants: each refers to its variant for good."""
    if not variant_ids:
        return 0
    return session.exec(
        select(func.count())
        .select_from(CheckoutSession)
        .where(col(CheckoutSession.variant_id).in_(variant_ids))
    ).one()


def _sold(what: str, checkouts: int, *, stop: str) -> AlreadySold:
    started = f"{checkouts} checkout{' was' if checkouts == 1 else 's were'} started"
    return AlreadySold(
        f"{what} was sold through ReelCart ({started} for it), and those checkouts and their orders refer to "
        f"it, so it stays in the catalog; to stop selling it, {stop} (PATCH /v1/variants/{{id}} with "
        '{"available": false}): its hotspots then show it sold out'
    )


def delete_variant(session: Session, variant: Variant) -> None:
    """Delete a variant nobody has bought through ReelCart (`AlreadySold` otherwise), nor the last one of a
    product approved hotspots sell (`LastVariantShown`)."""
    # Its product first, as a deletion's lock (FOR UPDATE, as a product's deletion takes it, before its
    # variants): an approval (FOR KEY SHARE on the product) and another variant's deletion wait for this
    # one and then see it, so neither can leave approved hotspots with nothing to buy.
    session.exec(_for_update(select(Product).where(Product.id == variant.product_id))).first()
    locked = session.exec(_for_update(select(Variant).where(Variant.id == variant.id))).first()
    if locked is None:
        raise NotFound("variant")
    sold = checkouts_of(session, [locked.id])
    if sold:
        raise _sold("this variant", sold, stop="mark it unavailable")
    shown = _hotspots_left_with_nothing(session, locked)
    if shown:
        raise LastVariantShown(
            f"this is the only variant of a product {shown} approved hotspot(s) sell: without it they would "
            "sell nothing. Mark it unavailable instead (the hotspots show it sold out), add another variant "
            "first, or reject or relink those placements",
            errors=[{"field": "variant_id", "message": "the only variant of a product on approved hotspots"}],
        )
    session.delete(locked)


def _hotspots_left_with_nothing(session: Session, variant: Variant) -> int:
    """How many approved placements show the variant's product, when it is the product's only variant."""
    others = session.exec(
        select(Variant.id).where(Variant.product_id == variant.product_id, Variant.id != variant.id).limit(1)
    ).first()
    if others is not None:
        return 0
    return session.exec(
        select(func.count())
        .select_from(Placement)
        .where(
            Placement.chosen_product_id == variant.product_id, Placement.status == PlacementStatus.APPROVED
        )
    ).one()


# SKUs asked about per query: one bound parameter each, and PostgreSQL takes at most 65,535 a statement
# (an import checks all of a catalog's at once).
SKU_CHECK_CHUNK = 10_000


def taken_skus(session: Session, brand_id: uuid.UUID, skus: Sequence[str]) -> set[str]:
    """The SKUs among `skus` the brand's catalog already has."""
    taken: set[str] = set()
    for start in range(0, len(skus), SKU_CHECK_CHUNK):
        chunk = list(skus[start : start + SKU_CHECK_CHUNK])
        taken.update(
            session.exec(
                select(Variant.sku).where(Variant.brand_id == brand_id, col(Variant.sku).in_(chunk))
            ).all()
        )
    return taken


def ensure_skus_free(session: Session, brand_id: uuid.UUID, skus: Sequence[str]) -> None:
    taken = taken_skus(session, brand_id, skus)
    if taken:
        raise DuplicateSku(
            f"sku already exists in this brand's catalog: {', '.join(sorted(taken))}",
            errors=[{"field": "sku", "message": f"{sku!r} already exists"} for sku in sorted(taken)],
        )


def create_product(session: Session, brand_id: uuid.UUID, body: ProductCreate) -> Product:
    ensure_skus_free(session, brand_id, [variant.sku for variant in body.variants])
    product = Product(
        brand_id=brand_id,
        title=body.title,
        vendor=body.vendor,
        description=body.description,
        own_print=[list(box) for box in body.own_print],
    )
    session.add(product)
    session.flush()
    # Its SKUs were checked above, all at once; a new product starts at version 1.
    session.add_all([_variant_row(product, variant) for variant in body.variants])
    for position, image in enumerate(body.images):
        session.add(
            ProductImage(
                product_id=product.id, brand_id=brand_id, position=position, source_url=str(image.url)
            )
        )
    session.flush()
    bind_own_print(session, product)
    return product


def next_image_position(session: Session, product_id: uuid.UUID) -> int:
    """After every image the product has: a count would repeat a position once one was deleted."""
    last = session.exec(
        select(func.max(ProductImage.position)).where(ProductImage.product_id == product_id)
    ).one()
    return 0 if last is None else last + 1


def first_image_id(session: Session, product_id: uuid.UUID) -> uuid.UUID | None:
    return session.exec(
        select(ProductImage.id)
        .where(ProductImage.product_id == product_id)
        .order_by(col(ProductImage.position), col(ProductImage.created_at))
    ).first()


def bind_own_print(session: Session, product: Product) -> None:
    """Marks set while the product had no image wait for one: they are on the first image it gets
    (what a catalog import or a create-then-upload means). Marks already on an image stay on it, and
    marks whose image was removed stay unplaced: a later image is another picture."""
    if product.own_print and product.own_print_image_id is None:
        product.own_print_image_id = first_image_id(session, product.id)
        session.add(product)
        session.flush()


def add_variant(session: Session, product: Product, body: VariantCreate) -> Variant:
    """A new variant of an existing product (its version moves on)."""
    ensure_skus_free(session, product.brand_id, [body.sku])
    variant = _variant_row(product, body)
    session.add(variant)
    product.touch()
    session.flush()
    return variant


def _variant_row(product: Product, body: VariantCreate) -> Variant:
    return Variant(
        product_id=product.id,
        brand_id=product.brand_id,
        sku=body.sku,
        title=body.title,
        price=body.price,
        currency=body.currency,
        available=body.available,
    )


# Product text a PATCH may clear with null, and what clearing leaves.
_CLEARABLE: dict[str, object] = {"vendor": "", "description": "", "own_print": []}


def marks_of(product: Product) -> tuple[tuple[tuple[float, ...], ...], uuid.UUID | None]:
    """A product's own-print marks and the image they are on, comparable before and after a change."""
    boxes = tuple(tuple(float(value) for value in box) for box in product.own_print)
    return boxes, product.own_print_image_id if boxes else None


def product_etag(product: Product) -> str:
    return etag(product.version)


def update_product(
    session: Session, product: Product, body: ProductUpdate, *, if_match: str | None = None
) -> Product:
    """Apply a PATCH. With `if_match` (the ETag the client loaded) the write is refused with a 412 when
    the product changed since, so two people marking one packshot cannot overwrite each other unseen;
    without it the last write wins, as for any client that does not ask for the check."""
    # The body first: a request the schema refuses is a 422 whatever version it names.
    sent = body.model_dump(exclude_unset=True)
    cleared = {
        field: _CLEARABLE[field] for field, value in sent.items() if value is None and field in _CLEARABLE
    }
    rest = ProductUpdate.model_validate(
        {field: value for field, value in sent.items() if field not in cleared}
    )
    changes = non_null_changes(rest)
    named = if_match is not None and if_match.strip() not in ("", "*")
    if named and if_match is not None:
        if not if_match_names(if_match, product.version):
            raise _product_changed(product.version)
        current = claim_next_version(session, Product, product.id, product.version)
        if current is not None:
            raise _product_changed(current)
        product.version += 1
        product.updated_at = utcnow()
    else:
        # No If-Match, or `*` (any version: the product need only exist, and it does).
        product.touch()
    marked_on = changes.pop("own_print_image_id", None)
    for field, value in {**changes, **cleared}.items():
        setattr(product, field, [list(box) for box in value] if field == "own_print" else value)
    if marked_on is not None:
        product.own_print_image_id = _own_image(session, product, marked_on)
    elif "own_print" in sent and not is_image_of(session, product, product.own_print_image_id):
        # Boxes sent without an image stay on the image they were on: a client writing back what it
        # read must not move them to another picture. Only boxes with no image left (never placed, or
        # their image removed) go on the first one.
        product.own_print_image_id = first_image_id(session, product.id)
    if not product.own_print:
        product.own_print_image_id = None
    session.add(product)
    session.flush()
    # The version this write made, read in its own transaction: after the commit another writer's could
    # be read instead, and the client would hold an ETag for a change it never saw.
    session.refresh(product, ["version"])
    return product


def _product_changed(current: int) -> EditConflict:
    return EditConflict(
        f"product changed since you loaded it (now version {current}); reload it and apply your edit again",
        headers={"ETag": etag(current)},
    )


def product_changed(session: Session, product_id: uuid.UUID) -> None:
    """A variant or image of the product was changed or removed: its ETag moves on with it."""
    product = session.get(Product, product_id)
    if product is not None:
        product.touch()
        session.add(product)


def is_image_of(session: Session, product: Product, image_id: uuid.UUID | None) -> bool:
    image = session.get(ProductImage, image_id) if image_id is not None else None
    return image is not None and image.product_id == product.id


def _own_image(session: Session, product: Product, image_id: uuid.UUID) -> uuid.UUID:
    if not is_image_of(session, product, image_id):
        message = "not an image of this product (see its `images`)"
        raise InvalidInput(
            f"own_print_image_id: {message}", errors=[{"field": "own_print_image_id", "message": message}]
        )
    if not product.own_print:
        message = "this product has no own_print marks to place (send own_print with it)"
        raise InvalidInput(
            f"own_print_image_id: {message}", errors=[{"field": "own_print_image_id", "message": message}]
        )
    return image_id


def update_variant(session: Session, variant: Variant, body: VariantUpdate) -> Variant:
    for field, value in non_null_changes(body).items():
        setattr(variant, field, value)
    try:
        Money(variant.price.normalize(), variant.currency)
    except MoneyError as error:
        raise InvalidInput(str(error), errors=[{"field": "price", "message": str(error)}]) from error
    session.add(variant)
    product_changed(session, variant.product_id)
    session.flush()
    return variant


def delete_product(session: Session, product: Product, actor: str) -> list[uuid.UUID]:
    """Delete a product; placements that chose it lose it, each with a history entry saying so
    (`PRODUCT_DELETED`, by `actor`): an approved one goes back to review, a rejected one stays rejected
    (a person's no, which no re-link overrules). Returns the episodes whose public timeline showed it (an
    approved placement chose it): those, and only those, need rebuilding. The placements that name it
    among their candidates are for a re-link to decide again (`relink_placements_naming`).

    A product with a checkout is refused (`AlreadySold`): its checkouts and orders refer to its variants.
    The product and its variants are locked first, so a reviewer choosing it or a shopper's checkout that
    started earlier is waited for and then seen, and one that starts later finds it gone."""
    product = lock_product(session, product, deleting=True)
    variants = session.exec(
        select(Variant).where(Variant.product_id == product.id).order_by(col(Variant.id)).with_for_update()
    ).all()
    sold = checkouts_of(session, [variant.id for variant in variants])
    if sold:
        raise _sold("this product", sold, stop="mark its variants unavailable")
    # Locked in id order, as a re-tag locks an episode's: two transactions never wait on each other.
    shown = session.exec(
        select(Placement)
        .where(Placement.chosen_product_id == product.id)
        .order_by(col(Placement.id))
        .with_for_update()
    ).all()
    published = sorted({p.episode_id for p in shown if p.status == PlacementStatus.APPROVED})
    for placement in shown:
        before = placement_snapshot(placement)
        placement.chosen_product_id = None
        if placement.status != PlacementStatus.REJECTED:
            placement.status = PlacementStatus.PROPOSED
        placement.approved_by_linker = False
        placement.version += 1
        placement.updated_at = utcnow()
        session.add(placement)
        session.add(history_entry(placement, actor, PRODUCT_DELETED, before))
    session.flush()
    session.execute(delete(Variant).where(col(Variant.product_id) == product.id))
    session.execute(delete(ProductImage).where(col(ProductImage.product_id) == product.id))
    session.delete(product)
    session.flush()
    return published


def list_products(
    session: Session, brand_id: uuid.UUID, *, query: str | None, limit: int, offset: int, public_base_url: str
) -> ProductPage:
    statement = select(Product).where(Product.brand_id == brand_id)
    if query:
        pattern = f"%{query.lower()}%"
        sku_match = select(Variant.product_id).where(
            Variant.brand_id == brand_id, func.lower(Variant.sku).like(pattern)
        )
        statement = statement.where(
            or_(
                func.lower(Product.title).like(pattern),
                func.lower(Product.vendor).like(pattern),
                col(Product.id).in_(sku_match),
            )
        )
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    products = session.exec(
        statement.order_by(col(Product.title), col(Product.id)).limit(limit).offset(offset)
    ).all()
    return ProductPage(
        items=[product_public(session, product, public_base_url) for product in products],
        total=total,
        limit=limit,
        offset=offset,
    )
