"""Commerce settings: environment variables, placeholder refusal outside development, validation."""

from __future__ import annotations

import pytest

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
        "invalid commerce settings (settings): Value error, "
        "placeholder secrets are only allowed in development: "
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
        ({"token_encryption_key": "too-short"}, "token_encryption_key"),
        ({"shopify_admin_api_version": "2026-11"}, "shopify_admin_api_version"),
        ({"shopify_base_url": "ftp://example.test"}, "shopify_base_url"),
        ({"stripe_timeout_s": 0}, "stripe_timeout_s"),
    ],
)
def test_invalid_values_are_one_line_settings_errors(override: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as error:
        load_commerce_settings(**override)
    assert "\n" not in str(error.value)


def test_settings_are_immutable() -> None:
    settings = CommerceSettings()
    with pytest.raises(ValueError, match="frozen"):
        settings.stripe_api_base = "https://elsewhere.test"  # type: ignore[misc]
