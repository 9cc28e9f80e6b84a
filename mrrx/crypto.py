"""Encryption at rest for secrets MRRX must be able to read back (Stripe keys, signing secrets).

``settings.ENCRYPTION_KEYS`` holds Fernet keys: the first encrypts, every one decrypts, so
a key can be rotated by putting a new one first and re-encrypting at leisure.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    """``plaintext`` encrypted with the first configured key, as a URL-safe token."""
    return _fernet(tuple(settings.ENCRYPTION_KEYS)).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of a token made by :func:`encrypt` with any configured key.

    Raises ``cryptography.fernet.InvalidToken`` when no configured key opens it.
    """
    return _fernet(tuple(settings.ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
