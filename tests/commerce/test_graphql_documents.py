"""Every `.graphql` document validates against Shopify's real schema, and so do the variables we send."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, build_client_schema, parse, validate
from graphql.execution.values import get_variable_values
from graphql.validation import NoDeprecatedCustomRule, specified_rules

from commerce.checkout import CheckoutUi
from commerce.providers.shopify import (
    ADMIN_DOCUMENTS,
    STOREFRONT_DOCUMENTS,
    cart_create_variables,
    load_document,
    products_page_variables,
    storefront_token_variables,
)
from commerce.settings import CommerceSettings
from tests.commerce.shopify_schemas import admin_schema, storefront_schema
from tests.utils.commerce import make_request

DEFAULTS = CommerceSettings()
RULES = (*specified_rules, NoDeprecatedCustomRule)


# assume_valid: the schemas are what Shopify's servers execute; graphql-core 3.3 also enforces a newer
# type-system rule (deprecated fields on interface implementations) that Shopify's schemas predate.
# Documents are still validated in full against them.
@cache
def admin() -> GraphQLSchema:
    introspection = admin_schema(DEFAULTS.shopify_admin_api_version)
    return build_client_schema(introspection, assume_valid=True)  # type: ignore[arg-type]


@cache
def storefront() -> tuple[str, GraphQLSchema]:
    version, introspection = storefront_schema()
    return version, build_client_schema(introspection, assume_valid=True)  # type: ignore[arg-type]


def problems(schema: GraphQLSchema, document: str) -> list[str]:
    return [error.message for error in validate(schema, parse(document), RULES)]


def variable_problems(schema: GraphQLSchema, document: str, variables: dict[str, Any]) -> list[str]:
    operation = next(d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode))
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
    return [error.message for error in coerced] if isinstance(coerced, list) else []


@pytest.mark.parametrize("name", ADMIN_DOCUMENTS)
def test_admin_documents_validate_against_the_pinned_admin_schema(name: str) -> None:
    assert problems(admin(), load_document(name)) == []


@pytest.mark.parametrize("name", STOREFRONT_DOCUMENTS)
def test_storefront_documents_validate_against_the_storefront_schema(name: str) -> None:
    assert problems(storefront()[1], load_document(name)) == []


def test_the_storefront_version_we_call_is_the_one_we_validate_against() -> None:
    version, _ = storefront()
    assert DEFAULTS.shopify_storefront_api_version == version


def test_the_variables_we_send_are_accepted_by_the_schemas() -> None:
    request = make_request(
        variant_ref="gid://shopify/ProductVariant/11", product_ref=None, ui=CheckoutUi.HOSTED
    )
    since = datetime(2026, 11, 1, tzinfo=UTC)

    assert (
        variable_problems(
            storefront()[1], load_document("cart_create.graphql"), cart_create_variables(request)
        )
        == []
    )
    assert (
        variable_problems(
            admin(), load_document("products.graphql"), products_page_variables(50, "cursor", since)
        )
        == []
    )
    assert (
        variable_problems(
            admin(), load_document("storefront_token_create.graphql"), storefront_token_variables()
        )
        == []
    )


def test_validation_does_catch_a_wrong_field_a_deprecated_field_and_a_wrong_variable() -> None:
    # Guards the guard: these must fail, or the tests above prove nothing.
    assert problems(admin(), "{ products(first: 1) { nodes { priceInCents } } }") == [
        "Cannot query field 'priceInCents' on type 'Product'."
    ]
    assert problems(admin(), "{ products(first: 1) { nodes { featuredImage { url } } } }") == [
        "The field Product.featuredImage is deprecated. Use `featuredMedia` instead."
    ]
    wrong = {"input": {"lines": [{"variantId": "gid://shopify/ProductVariant/1", "quantity": 1}]}}
    assert variable_problems(storefront()[1], load_document("cart_create.graphql"), wrong) != []
