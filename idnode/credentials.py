"""Secret keys (HS_SECKEY): salted scrypt hashes, constant-time checks, and a short verified cache.

A stored secret looks like ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``; the clear secret is never
stored, logged or returned. Verifying costs tens of milliseconds by design, so successful checks are
remembered for a few minutes under a keyed digest of (stored hash, secret), never the secret itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
HASH_BYTES = 32
PREFIX = "scrypt$"
VERIFIED_TTL_SECONDS = 300.0
_VERIFIED_MAX = 10_000


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=HASH_BYTES, n=n, r=r, p=p).derive(secret.encode("utf-8"))


def hash_secret(secret: str) -> str:
    """Return a new salted scrypt hash of ``secret``."""
    salt = os.urandom(16)
    digest = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"{PREFIX}{SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def is_hashed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def new_secret() -> str:
    """A fresh random secret for a new credential (printed once, never stored in clear)."""
    return secrets.token_urlsafe(24)


class SecretVerifier:
    """Checks secrets against stored hashes, remembering recent successes in process memory."""

    def __init__(self) -> None:
        self._key = os.urandom(32)
        self._verified: dict[bytes, float] = {}

    def verify(self, stored: str, secret: str) -> bool:
        """True if ``secret`` matches the ``stored`` hash (constant-time comparison)."""
        memo = hmac.new(self._key, f"{stored}\0{secret}".encode(), hashlib.sha256).digest()
        now = time.monotonic()
        if self._verified.get(memo, 0.0) > now:
            return True
        try:
            _, n, r, p, salt, encoded = stored.split("$")
            expected = base64.b64decode(encoded, validate=True)
            digest = _scrypt(secret, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
        except ValueError:  # includes binascii.Error: a malformed stored hash matches nothing
            return False
        if not hmac.compare_digest(digest, expected):
            return False
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[memo] = now + VERIFIED_TTL_SECONDS
        return True
