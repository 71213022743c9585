"""Brand access tokens encrypted at rest."""

from __future__ import annotations

import pytest

from commerce.crypto import TokenCipher, generate_token_key
from commerce.exceptions import TokenCryptoError
from tests.utils.commerce import make_settings

TOKEN = "shpat_0123456789abcdef0123456789abcdef"


def test_a_token_round_trips_and_is_not_readable_at_rest() -> None:
    cipher = TokenCipher.from_settings(make_settings())

    stored = cipher.encrypt(TOKEN)

    assert TOKEN not in stored
    assert stored != cipher.encrypt(TOKEN)  # fresh IV each time
    assert cipher.decrypt(stored) == TOKEN


def test_another_key_cannot_decrypt_and_the_error_does_not_leak_the_ciphertext() -> None:
    stored = TokenCipher(generate_token_key()).encrypt(TOKEN)

    with pytest.raises(TokenCryptoError) as error:
        TokenCipher(generate_token_key()).decrypt(stored)

    assert stored not in str(error.value)


def test_tampered_ciphertext_is_rejected() -> None:
    cipher = TokenCipher(generate_token_key())
    stored = cipher.encrypt(TOKEN)
    tampered = stored[:-6] + ("A" if stored[-6] != "A" else "B") + stored[-5:]

    with pytest.raises(TokenCryptoError):
        cipher.decrypt(tampered)


def test_rotation_keeps_old_tokens_readable_and_moves_them_to_the_new_key() -> None:
    old_key, new_key = generate_token_key(), generate_token_key()
    stored_under_old = TokenCipher(old_key).encrypt(TOKEN)
    rotating = TokenCipher(new_key, previous_keys=[old_key])

    rotated = rotating.rotate(stored_under_old)

    assert rotating.decrypt(stored_under_old) == TOKEN
    assert TokenCipher(new_key).decrypt(rotated) == TOKEN


@pytest.mark.parametrize("key", ["", "not-a-fernet-key"])
def test_a_malformed_key_is_a_crypto_error(key: str) -> None:
    with pytest.raises(TokenCryptoError, match="32-byte urlsafe base64"):
        TokenCipher(key)


def test_empty_tokens_are_not_encrypted() -> None:
    with pytest.raises(TokenCryptoError):
        TokenCipher(generate_token_key()).encrypt("")
