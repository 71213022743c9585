"""Catalog bodies. Prices are `Decimal` + ISO 4217 code, checked against the currency's minor unit."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StrictBool,
    StrictFloat,
    UrlConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from api.types import Text
from commerce.exceptions import MoneyError
from commerce.money import Money, normalize_currency
from tagger.linking.own_print import MAX_BOXES, OwnPrintError, check_boxes


def _currency(value: str) -> str:
    try:
        return normalize_currency(value)
    except MoneyError as error:
        raise ValueError(str(error)) from error


Currency = Annotated[str, Field(min_length=3, max_length=3, examples=["EUR"]), AfterValidator(_currency)]
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=3, examples=["4.99"])]
Title = Annotated[Text, Field(min_length=1, max_length=300)]
Sku = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")]


# Images a product may have at creation (by URL, or in an import), and variants.
MAX_PRODUCT_IMAGES = 50
MAX_PRODUCT_VARIANTS = 250

# `ProductImage.source_url` holds this many characters (pydantic's own URL cap is 2,083).
MAX_IMAGE_URL_CHARS = 2000

# Numbers only: a JSON true or "0.4" is a mistake, not 1.0 or 0.4.
StrictBox = tuple[StrictFloat, StrictFloat, StrictFloat, StrictFloat]


def _own_print(boxes: list[StrictBox]) -> list[StrictBox]:
    try:
        return list(check_boxes(boxes))
    except OwnPrintError as error:
        raise ValueError(str(error)) from error


OwnPrint = Annotated[
    list[StrictBox],
    Field(
        max_length=MAX_BOXES,
        description=(
            "Boxes [x0, y0, x1, y1], fractions of one of the product's images (its first image, unless "
            "`own_print_image_id` names another), around the print only this product has (its flavour "
            "picture, its variant's name), not the logo or layout its siblings share. When set, "
            "auto-approval needs keypoints matched inside them; the family's print alone is proposed "
            "for review."
        ),
        examples=[[[0.42, 0.31, 0.57, 0.54]]],
    ),
    AfterValidator(_own_print),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class VariantCreate(_Strict):
    sku: Sku
    title: Text = Field(default="Default", min_length=1, max_length=300)
    price: Price
    currency: Currency
    available: StrictBool = True

    @model_validator(mode="after")
    def _price_fits_currency(self) -> VariantCreate:
        try:
            Money(self.price, self.currency)
        except MoneyError as error:
            raise ValueError(str(error)) from error
        return self


class VariantUpdate(_Strict):
    # Omit a field to keep it; none of these can be cleared, so null is not in their schema (and a
    # null sent anyway is a 422 naming the field).
    title: Title | SkipJsonSchema[None] = None
    price: Price | SkipJsonSchema[None] = None
    currency: Currency | SkipJsonSchema[None] = None
    available: StrictBool | SkipJsonSchema[None] = None


def _stored_url_fits(url: HttpUrl) -> HttpUrl:
    # The input's length is checked before parsing; normalising can lengthen it (a non-ASCII path is
    # percent-encoded, a host punycoded), and what is stored is the normalised URL.
    length = len(str(url))
    if length > MAX_IMAGE_URL_CHARS:
        raise ValueError(
            f"URL should have at most {MAX_IMAGE_URL_CHARS} characters once normalised "
            f"(non-ASCII characters percent-encoded), not {length}"
        )
    return url


ImageUrl = Annotated[
    HttpUrl,
    UrlConstraints(max_length=MAX_IMAGE_URL_CHARS),
    AfterValidator(_stored_url_fits),
    Field(description=f"An http(s) URL of at most {MAX_IMAGE_URL_CHARS} characters"),
]


class ImageByUrl(_Strict):
    url: ImageUrl


class ProductCreate(_Strict):
    title: Text = Field(min_length=1, max_length=300)
    vendor: Text = Field(default="", max_length=200)
    description: Text = Field(default="", max_length=20_000)
    own_print: OwnPrint = Field(default_factory=list)
    variants: list[VariantCreate] = Field(default_factory=list, max_length=MAX_PRODUCT_VARIANTS)
    images: list[ImageByUrl] = Field(default_factory=list, max_length=MAX_PRODUCT_IMAGES)

    @model_validator(mode="after")
    def _unique_skus(self) -> ProductCreate:
        seen: set[str] = set()
        for variant in self.variants:
            if variant.sku in seen:
                raise ValueError(f"duplicate sku {variant.sku!r} in this product")
            seen.add(variant.sku)
        return self


class ProductUpdate(_Strict):
    # Omit a field to keep it. A title cannot be cleared (null is not in its schema); vendor and
    # description can: null clears them to "".
    title: Title | SkipJsonSchema[None] = None
    vendor: Text | None = Field(default=None, max_length=200, description="null clears it")
    description: Text | None = Field(default=None, max_length=20_000, description="null clears it")
    own_print: OwnPrint | None = Field(default=None, description="null clears it (as does [])")
    own_print_image_id: uuid.UUID | SkipJsonSchema[None] = Field(
        default=None,
        description="The product image the own_print boxes are drawn on. Omitted: boxes stay on the image "
        "they were on, or go on the product's first image when they have none (never placed, or that "
        "image was removed).",
    )


class OwnPrintCheckRequest(_Strict):
    # What the marks editor is about to save; omitted fields are the product's stored marks and image.
    own_print: OwnPrint | SkipJsonSchema[None] = Field(
        default=None, description="The boxes to check; omitted: the product's stored marks"
    )
    own_print_image_id: uuid.UUID | SkipJsonSchema[None] = Field(
        default=None,
        description="The product image the boxes are on; omitted: the stored marks' image, else its first",
    )


class SharedPrintPublic(BaseModel):
    product_id: uuid.UUID
    title: str
    keypoints: int = Field(description="Keypoints inside the boxes this product's packshot matches")
    per_box: list[int] = Field(description="Of those, how many in each box, in the boxes' order")
    points: list[tuple[float, float]] = Field(
        description="Where they are, x and y as fractions of the image, each place once (a place may hold "
        "several keypoints, one per orientation)"
    )


class FootagePrintPublic(BaseModel):
    placement_id: uuid.UUID
    episode_id: uuid.UUID
    product_id: uuid.UUID = Field(description="The product the placement was approved as")
    title: str = Field(description="That product's title")
    keypoints: int = Field(description="Keypoints inside the boxes the placement's best crop matches")
    per_box: list[int] = Field(description="Of those, how many in each box, in the boxes' order")
    points: list[tuple[float, float]] = Field(
        description="Where they are, x and y as fractions of the image, each place once"
    )


class OwnFootagePublic(BaseModel):
    placement_id: uuid.UUID
    episode_id: uuid.UUID
    keypoints: int = Field(description="Keypoints inside the boxes the placement's best crop matches")
    per_box: list[int] = Field(description="Of those, how many in each box, in the boxes' order")
    matched: int = Field(description="The most keypoints any of its crops matched anywhere on the image")
    misses_marks: bool = Field(
        description="Its print matched, but fewer than `shared_bar` keypoints inside the boxes: links of "
        "this pack as the footage shows it are never approved automatically"
    )
    points: list[tuple[float, float]] = Field(
        description="Where that crop matched the image, inside the boxes or not (x and y as fractions of "
        "the image, each place once): print the pack as filmed carries"
    )


class OwnPrintCheckPublic(BaseModel):
    image_id: uuid.UUID
    index_version: str
    keypoints: list[int] = Field(description="Keypoints of the image inside each box")
    confirming_keypoints: int = Field(
        description="How many keypoints a crop must match inside the boxes to confirm the product"
    )
    can_confirm: bool = Field(description="The boxes hold at least `confirming_keypoints` keypoints")
    shared_bar: int = Field(description="Another product matching this many inside the boxes is listed")
    shared: list[SharedPrintPublic] = Field(description="Products printing what the boxes hold, worst first")
    compared: int = Field(description="How many other products' packshots were compared")
    footage: list[FootagePrintPublic] = Field(
        default_factory=list,
        description="Placements of the brand's episodes approved as another product whose crops match "
        "`shared_bar` or more keypoints inside the boxes: that product's pack as the camera saw it prints "
        "what they hold, most first",
    )
    footage_compared: int = Field(
        default=0,
        description="How many such placements were compared: the newest approved as another product "
        "with this one among their candidates",
    )
    own_footage: list[OwnFootagePublic] = Field(
        default_factory=list,
        description="The newest placements approved as this product, against the boxes: those whose "
        "print matched but not inside the boxes first",
    )
    ok: bool
    problems: list[str] = Field(description="What to change, in words; empty when the marks are fine")


class OwnPrintSuggestRequest(_Strict):
    own_print_image_id: uuid.UUID | SkipJsonSchema[None] = Field(
        default=None,
        description="The product image to draw on; omitted: the stored marks' image, else its first",
    )


class OwnPrintSuggestionPublic(BaseModel):
    image_id: uuid.UUID
    boxes: list[tuple[float, float, float, float]] = Field(
        description="Suggested boxes (x0, y0, x1, y1 as fractions of the image); empty when none can do "
        "their job (`reason` says why). Nothing is saved: PATCH the product with them to use them"
    )
    reason: str = Field(description="Why there are no boxes; empty when there are")
    placements_compared: int = Field(
        description="Placements approved as this product whose crops were learnt from (the newest, at most 8)"
    )
    own_inside: list[int] = Field(
        description="For each of those, the keypoints its best crop matches inside the boxes"
    )
    foreign_inside: int = Field(
        description="The most keypoints any other product's packshot, or placement approved as another "
        "product with this one among its candidates, matches inside the boxes (at most half the marks' bar)"
    )
    check: OwnPrintCheckPublic | None = Field(
        default=None, description="The boxes checked as `own-print/check` checks them; null with no boxes"
    )


class VariantPublic(BaseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    title: str
    price: Decimal
    currency: str
    available: bool


class ImagePublic(BaseModel):
    id: uuid.UUID
    url: str
    position: int
    width: int | None
    height: int | None
    indexed: bool = Field(
        description="Held by ReelCart, so the linker can match placements against it; an image given by "
        "URL is fetched by the next link or tag job"
    )
    fetch_error: str | None = Field(
        description="Why the image URL could not be fetched. A failure that may pass (a timeout, HTTP "
        "429 or 5xx) is tried again, see `fetch_retry_at`; any other is not (add the image again)"
    )
    fetch_retry_at: datetime | None = Field(
        default=None,
        description="When a failed fetch that may pass becomes due again: the job supervisor then queues "
        "an image-fetch job that tries it (or the brand's next link or tag job does; at most 5 tries, "
        "1, 4, 16 and 64 minutes apart); null when it is not tried again",
    )


class ProductPublic(BaseModel):
    id: uuid.UUID
    title: str
    vendor: str
    description: str
    own_print: list[tuple[float, float, float, float]] = Field(
        description="Boxes [x0, y0, x1, y1] on the image `own_print_image_id` around the print only this "
        "product has"
    )
    own_print_image_id: uuid.UUID | None = Field(
        description="The image the own_print boxes are drawn on; they stay on it when images are reordered "
        "or added. null when there are no marks, or no image yet (the first image added takes them). An "
        "id not among `images` is an image since removed: the marks then approve nothing until set again."
    )
    variants: list[VariantPublic]
    images: list[ImagePublic]
    version: int = Field(
        description="Moves on with every change to the product, its variants or its images (not when a "
        "background fetch brings an image URL home); the ETag is it in quotes. Send that in If-Match with a "
        "PATCH to refuse overwriting a change made since."
    )
    created_at: datetime
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[ProductPublic]
    total: int
    limit: int
    offset: int


class ImportLineError(BaseModel):
    line: int | str
    field: str
    message: str


class ImportReport(BaseModel):
    imported_products: int
    imported_variants: int
    imported_images: int
