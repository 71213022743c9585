"""GraphQL documents, one `.graphql` file each; fragments are appended to the documents that spread them."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

# Fragment name → file. Kept explicit so a typo in a spread fails loudly at load time.
FRAGMENT_FILES: dict[str, str] = {
    "CatalogProductFields": "product_fields.graphql",
    "CatalogVariantFields": "variant_fields.graphql",
}
ADMIN_DOCUMENTS = (
    "products.graphql",
    "product.graphql",
    "product_variants.graphql",
    "order_refunds.graphql",
    "storefront_token_create.graphql",
)
STOREFRONT_DOCUMENTS = ("cart_create.graphql",)

_SPREAD = re.compile(r"\.\.\.\s*(?!on\b)([_A-Za-z][_0-9A-Za-z]*)")


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@cache
def load_document(name: str) -> str:
    """The operation in `name` followed by every fragment it uses, transitively, each once."""
    parts = [_read(name)]
    pending = list(_SPREAD.findall(parts[0]))
    included: set[str] = set()
    while pending:
        fragment = pending.pop(0)
        if fragment in included:
            continue
        if fragment not in FRAGMENT_FILES:
            raise KeyError(f"{name} spreads unknown fragment {fragment}")
        included.add(fragment)
        text = _read(FRAGMENT_FILES[fragment])
        parts.append(text)
        pending.extend(_SPREAD.findall(text))
    return "\n".join(parts)
