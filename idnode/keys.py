"""The node's signing keys: private keys on disk, public keys published on the node's own handle.

Private keys are PKCS#8 PEM files ``<kid>.pem`` (mode 0600) in the keys directory. Public keys are
HS_PUBKEY values on ``0.NA/<node prefix>`` at index 301, 302, ... (one per key, in creation order);
their data is the JWK plus ``kid``, ``alg``, ``use``, ``status`` (``active`` or ``retired``),
``created`` and, once retired, ``retired`` and ``expires`` (when its last signatures expire, after
which the value is removed). A certificate for the key at index 30k, if any, is the HS_CERT at 50k.
Exactly one key is active: the one new signatures are made with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from idnode.model.errors import IdnodeError
from idnode.model.identifier import Identifier
from idnode.model.record import Record
from idnode.model.values import HandleValue, iso_timestamp
from idnode.signing import HS_CERT, HS_PUBKEY, KeyFile

FIRST_KEY_INDEX = 301
CERT_INDEX_OFFSET = 200
ACTIVE = "active"
RETIRED = "retired"
ACTIVE_KEY_CACHE_SECONDS = 1.0


class SigningKeyMissing(IdnodeError):
    """The active signing key's private key file is not in the keys directory."""

    response_code = 5


@dataclass(frozen=True)
class PublishedKey:
    """An HS_PUBKEY value of the node record."""

    index: int
    jwk: dict[str, Any]
    node_handle: str

    @property
    def ref(self) -> str:
        return f"{self.index}:{self.node_handle}"

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    @property
    def active(self) -> bool:
        return self.jwk.get("status") == ACTIVE

    @property
    def cert_index(self) -> int:
        return self.index + CERT_INDEX_OFFSET


@dataclass(frozen=True)
class ActiveKey:
    """What a signature needs: the private key, its value reference, and its certificate chain."""

    key: KeyFile
    ref: str
    chain: list[str]


def published_keys(record: Record) -> list[PublishedKey]:
    return [
        PublishedKey(v.index, v.data, str(record.identifier))
        for v in record.values
        if v.type == HS_PUBKEY and isinstance(v.data, dict) and "kid" in v.data
    ]


def pubkey_value(index: int, key: KeyFile, now: int) -> HandleValue:
    """The HS_PUBKEY value publishing a new, active key."""
    jwk = {
        **key.public_jwk,
        "kid": key.kid,
        "alg": key.algorithm,
        "use": "sig",
        "status": ACTIVE,
        "created": iso_timestamp(now),
    }
    return HandleValue(index=index, type=HS_PUBKEY, format="key", data=jwk, timestamp=now)


def retired_value(value: HandleValue, now: int, lifetime: int) -> HandleValue:
    """An active HS_PUBKEY value marked retired; it stays published until its signatures expire."""
    data = {
        **value.data,
        "status": RETIRED,
        "retired": iso_timestamp(now),
        "expires": iso_timestamp(now + lifetime),
    }
    return replace(value, data=data, timestamp=now)


def expired(value: HandleValue, now: int) -> bool:
    expires = value.data.get("expires") if isinstance(value.data, dict) else None
    return expires is not None and expires < iso_timestamp(now)


class KeyStore:
    """Private key files in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._loaded: dict[str, KeyFile] = {}

    def create(self, algorithm: str) -> KeyFile:
        key = KeyFile.generate(algorithm)
        key.save(self.directory / f"{key.kid}.pem")
        self._loaded[key.kid] = key
        return key

    def load(self, kid: str) -> KeyFile:
        if kid not in self._loaded:
            path = self.directory / f"{kid}.pem"
            if not path.is_file():
                raise SigningKeyMissing(f"The private key of the active signing key {kid} is not at {path}.")
            self._loaded[kid] = KeyFile.load(path)
        return self._loaded[kid]


class NodeKeys:
    """Finds the active key from the node record (cached briefly, so a rotation made by another
    process is picked up within ``ACTIVE_KEY_CACHE_SECONDS``)."""

    def __init__(self, store: KeyStore, node_handle: Identifier) -> None:
        self.store = store
        self.node_handle = node_handle
        self._cached: tuple[float, ActiveKey] | None = None

    def active_in(self, node_record: Record) -> ActiveKey:
        """The active key as published in ``node_record``; raise SigningKeyMissing."""
        keys = [k for k in published_keys(node_record) if k.active]
        if not keys:
            raise SigningKeyMissing("The node record publishes no active signing key.")
        key = keys[-1]
        chain = [f"{key.cert_index}:{self.node_handle}"] if key.cert_index in node_record.by_index() else []
        return ActiveKey(self.store.load(key.kid), key.ref, chain)

    def remember(self, active: ActiveKey) -> None:
        self._cached = (time.monotonic() + ACTIVE_KEY_CACHE_SECONDS, active)

    def forget(self) -> None:
        self._cached = None

    def cached(self) -> ActiveKey | None:
        if self._cached and self._cached[0] > time.monotonic():
            return self._cached[1]
        return None


def certificate_value(index: int, token: str, now: int) -> HandleValue:
    return HandleValue(index=index, type=HS_CERT, format="string", data=token, timestamp=now)
