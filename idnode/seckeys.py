"""Fingerprints of stored secret keys: what portal sessions, SNMS tokens and login digests are bound to.

A fingerprint is SHA-256 of the stored HS_SECKEY value (the salted scrypt hash, which changes with
every new secret), so whatever was issued against one secret stops working when it is replaced or
removed: a secret reset ends every session, token and login digest of the credential at once.
"""

from __future__ import annotations

import hashlib

from idnode.model.errors import InvalidHandle
from idnode.model.identifier import Identifier
from idnode.model.values import HS_SECKEY
from idnode.storage.repository import Repository


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def seckey_fingerprint(repository: Repository, handle: str, index: int) -> str | None:
    """The fingerprint of the secret key ``index:handle`` has now, or None if it has none."""
    try:
        record = await repository.get_record(Identifier.parse(handle))
    except InvalidHandle:
        return None
    value = record.by_index().get(index) if record else None
    if value is None or value.type != HS_SECKEY:
        return None
    return sha256_hex(value.data)
