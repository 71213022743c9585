"""Brand access tokens (Shopify Admin, Storefront) encrypted at rest with Fernet (AES-128-CBC + HMAC)."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from commerce.exceptions import TokenCryptoError
from commerce.settings import CommerceSettings

_UNDECRYPTABLE = "stored access token cannot be decrypted with the configured keys"


class TokenCipher:
    """Encrypts with the current key; decrypts with the current or any previous key (rotation)."""

    def __init__(self, current_key: str, previous_keys: Sequence[str] = ()) -> None:
        try:
            fernets = [Fernet(key.encode()) for key in (current_key, *previous_keys)]
        except ValueError as error:
            raise TokenCryptoError("token encryption keys must be 32-byte urlsafe base64 strings") from error
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, settings: CommerceSettings) -> TokenCipher:
        return cls(
            settings.token_encryption_key.get_secret_value(),
            [key.get_secret_value() for key in settings.token_encryption_previous_keys],
        )

    def encrypt(self, plaintext: str) -> str:
        if not plaintext:
            raise TokenCryptoError("refusing to encrypt an empty access token")
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as error:
            # The ciphertext is never echoed: a partial token in a log is still a leak.
            raise TokenCryptoError(_UNDECRYPTABLE) from error

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt a token under the current key (after adding a new key in front)."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken as error:
            raise TokenCryptoError(_UNDECRYPTABLE) from error


def generate_token_key() -> str:
    """A fresh key for `REELCART_TOKEN_ENCRYPTION_KEY`."""
    return Fernet.generate_key().decode()
