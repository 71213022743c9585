"""Commerce settings: environment variables, placeholder refusal outside development, validation."""

from __future__ import annotations

import base64

import pytest

from commerce.crypto import TokenCipher, generate_token_key
from commerce.exceptions import SettingsError
from commerce.settings import CommerceSettings, load_commerce_settings

REAL_SECRETS = {
    "REELCART_STRIPE_SECRET_KEY": "sk_live_51Hx9realkey",
    "REELCART_STRIPE_WEBHOOK_SECRET": "whsec_9f8e7d6c5b4a",
    "REELCART_SHOPIFY_API_SECRET": "shpss_a1b2c3d4e5f6",
    "REELCART_TOKEN_ENCRYPTION_KEY": "kT1JbEXL6fIuGxvsRZb3JfRZ0ppNjBJ2Hq8fWc1wqdY=",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        *REAL_SECRETS,
        "REELCART_ENVIRONMENT",
        "REELCART_TOKEN_ENCRYPTION_PREVIOUS_KEYS",
        "REELCART_SHOPIFY_BASE_URL",
        "REELCART_STRIPE_API_BASE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_development_runs_on_defaults_with_current_api_versions() -> None:
    settings = load_commerce_settings()

    assert (
        settings.environment,
        settings.shopify_admin_api_version,
        settings.shopify_storefront_api_version,
        settings.stripe_api_base,
        settings.webhook_tolerance_s,
        settings.shopify_storefront_token,
    ) == ("development", "2026-10", "2026-04", "https://api.stripe.com", 300, None)


def test_production_refuses_placeholders_and_names_every_variable_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REELCART_ENVIRONMENT", "production")

    with pytest.raises(SettingsError) as error:
        load_commerce_settings()

    assert str(error.value) == (
        "invalid commerce settings: placeholder secrets are only allowed in development: "
        "set REELCART_SHOPIFY_API_SECRET, REELCART_STRIPE_SECRET_KEY, REELCART_STRIPE_WEBHOOK_SECRET, "
        "REELCART_TOKEN_ENCRYPTION_KEY"
    )


def test_production_reads_real_secrets_and_base_urls_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REELCART_ENVIRONMENT", "production")
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REELCART_STRIPE_API_BASE", "https://stripe-proxy.internal/")
    monkeypatch.setenv("REELCART_SHOPIFY_BASE_URL", "http://127.0.0.1:9999/")

    settings = load_commerce_settings()

    assert (
        settings.stripe_secret_key.get_secret_value(),
        settings.stripe_api_base,
        settings.shopify_base_url,
    ) == ("sk_live_51Hx9realkey", "https://stripe-proxy.internal", "http://127.0.0.1:9999")
    assert "sk_live" not in repr(settings)


def test_the_development_encryption_key_is_a_placeholder_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REELCART_TOKEN_ENCRYPTION_KEY")

    with pytest.raises(SettingsError, match="REELCART_TOKEN_ENCRYPTION_KEY"):
        load_commerce_settings(environment="staging")


def test_an_empty_storefront_token_outside_development_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REELCART_SHOPIFY_STOREFRONT_TOKEN", " ")

    with pytest.raises(SettingsError, match="REELCART_SHOPIFY_STOREFRONT_TOKEN"):
        load_commerce_settings(environment="production")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"token_encryption_key": "too-short"},
            "REELCART_TOKEN_ENCRYPTION_KEY: a token encryption key must be urlsafe base64 (a Fernet key)",
        ),
        (
            {"shopify_admin_api_version": "2026-11"},
            "REELCART_SHOPIFY_ADMIN_API_VERSION: Shopify API versions are quarterly releases like 2026-10, "
            "got '2026-11'",
        ),
        (
            {"shopify_base_url": "ftp://example.test"},
            "REELCART_SHOPIFY_BASE_URL: base URL must start with http:// or https://, got 'ftp://example.test'",
        ),
        ({"stripe_timeout_s": 0}, "REELCART_STRIPE_TIMEOUT_S: Input should be greater than 0"),
        ({"shopify_page_size": 500}, "REELCART_SHOPIFY_PAGE_SIZE: Input should be less than or equal to 250"),
    ],
)
def test_invalid_values_are_one_line_settings_errors_naming_the_variable(
    override: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError) as error:
        load_commerce_settings(**override)
    assert str(error.value) == f"invalid commerce settings: {message}"


def test_every_previous_token_key_is_checked_at_load_and_named_by_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a rotation whose first old key is real and whose second is 16 bytes, not 32
    short = base64.urlsafe_b64encode(b"sixteen bytes!!!").decode()
    monkeypatch.setenv("REELCART_TOKEN_ENCRYPTION_PREVIOUS_KEYS", f'["{generate_token_key()}", "{short}"]')

    # Then the settings refuse to load, naming the variable and the entry, never the key itself
    with pytest.raises(SettingsError) as error:
        load_commerce_settings()
    assert str(error.value) == (
        "invalid commerce settings: REELCART_TOKEN_ENCRYPTION_PREVIOUS_KEYS (entry 2): "
        "a token encryption key must decode to 32 bytes, got 16"
    )
    assert short not in str(error.value)


def test_previous_token_keys_that_are_not_a_json_list_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_token_key()
    monkeypatch.setenv("REELCART_TOKEN_ENCRYPTION_PREVIOUS_KEYS", key)

    with pytest.raises(SettingsError) as error:
        load_commerce_settings()
    assert str(error.value) == (
        "invalid commerce settings: REELCART_TOKEN_ENCRYPTION_PREVIOUS_KEYS: "
        'not valid JSON (a list is written as one, e.g. ["a", "b"])'
    )


def test_real_previous_token_keys_load_and_still_decrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = generate_token_key(), generate_token_key()
    stored = TokenCipher(old).encrypt("shpat_old")
    monkeypatch.setenv("REELCART_TOKEN_ENCRYPTION_KEY", new)
    monkeypatch.setenv("REELCART_TOKEN_ENCRYPTION_PREVIOUS_KEYS", f'["{old}"]')

    assert TokenCipher.from_settings(load_commerce_settings()).decrypt(stored) == "shpat_old"


def test_settings_are_immutable() -> None:
    settings = CommerceSettings()
    with pytest.raises(ValueError, match="frozen"):
        settings.stripe_api_base = "https://elsewhere.test"  # type: ignore[misc]
