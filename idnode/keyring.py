"""Key lifecycle on the node record: describe, rotate (and re-sign everything), certify.

Rotation publishes a new active key and marks the old one retired (it stays published until the
signatures it made expire), then re-signs every record in batches. Each record is re-signed in its
own locked update, so a reader sees either the old valid signature or the new one, never neither.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from idnode.commit import Committer, epoch
from idnode.config import Settings
from idnode.keys import (
    ACTIVE_KEY_CACHE_SECONDS,
    CERT_INDEX_OFFSET,
    FIRST_KEY_INDEX,
    ActiveKey,
    certificate_value,
    expired,
    pubkey_value,
    published_keys,
    retired_value,
)
from idnode.model.record import Record
from idnode.signing import (
    HS_CERT,
    HS_PUBKEY,
    SIGNATURE_INDEX,
    KeyFile,
    jws_parts,
    jws_sign,
    public_key_from_jwk,
    public_pem,
)
from idnode.storage.repository import SIGNATURES_EPOCH, Repository

RESIGN_BATCH = 500
KEYS_ACTOR = "operator (keys)"


class KeyRing:
    """Operations on the node's signing keys (the local operator's tools)."""

    def __init__(self, repository: Repository, committer: Committer, settings: Settings) -> None:
        self.repository = repository
        self.committer = committer
        self.keys = committer.keys
        self.settings = settings

    async def node_record(self) -> Record:
        record = await self.repository.get_record(self.keys.node_handle)
        if record is None:
            raise LookupError("the node record is missing; run 'idnode init'")
        return record

    async def active_key(self) -> ActiveKey:
        cached = self.keys.cached()
        if cached is None:
            cached = self.keys.active_in(await self.node_record())
            self.keys.remember(cached)
        return cached

    async def describe(self) -> dict[str, Any]:
        """What ``GET /api/node`` publishes: every key with its status, validity, JWK and PEM."""
        record = await self.node_record()
        certs = {v.index: v.data for v in record.values if v.type == HS_CERT}
        keys = []
        for published in published_keys(record):
            jwk = {k: published.jwk[k] for k in ("kty", "crv", "x", "y") if k in published.jwk}
            keys.append(
                {
                    **{
                        k: published.jwk.get(k)
                        for k in ("kid", "alg", "status", "created", "retired", "expires")
                    },
                    "ref": published.ref,
                    "jwk": jwk,
                    "pem": public_pem(public_key_from_jwk(jwk)),
                    "certificate": certs.get(published.cert_index),
                }
            )
        return {
            "handle": str(record.identifier),
            "keys": keys,
            "active": next((k["ref"] for k in keys if k["status"] == "active"), None),
        }

    async def rotate(self, algorithm: str) -> ActiveKey:
        """Publish a new active key and retire the current one; returns the new key."""
        self.repository.require_writable()  # before a key file is made: a mirror has no keys
        key = self.keys.store.create(algorithm)
        lifetime = self.committer.signature_lifetime
        while True:
            async with self.repository.transaction() as tx:
                node = await tx.get_record(self.keys.node_handle, lock=True)
                assert node is not None
                now = epoch()
                values = []
                stale_certs = set()
                for value in node.values:
                    if value.index == SIGNATURE_INDEX:
                        continue
                    if value.type == HS_PUBKEY and isinstance(value.data, dict):
                        if value.data.get("status") == "active":
                            value = retired_value(value, now, lifetime)
                        elif expired(value, now):  # its signatures are gone: unpublish it and its cert
                            stale_certs.add(value.index + CERT_INDEX_OFFSET)
                            continue
                    values.append(value)
                values = [v for v in values if v.index not in stale_certs]
                index = max([FIRST_KEY_INDEX - 1, *(k.index for k in published_keys(node))]) + 1
                values.append(pubkey_value(index, key, now))
                if await self.committer.change(
                    tx, KEYS_ACTOR, node, Record.sorted_values(values), "rotate-key"
                ):
                    break
        self.keys.forget()
        return await self.active_key()

    async def resign_all(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Re-sign every record not signed by the active key, in batches; returns how many were re-signed.

        Waits first until every process has stopped using the old key (its key cache expires).
        """
        await asyncio.sleep(ACTIVE_KEY_CACHE_SECONDS + 0.5)
        active = await self.active_key()
        total = await self.repository.count_records()
        after, seen, resigned = 0, 0, 0
        while True:
            async with self.repository.transaction() as tx:
                batch = await tx.records_after(after, RESIGN_BATCH)
                if not batch:
                    break
                changed = 0
                for _, record in batch:
                    signature = record.by_index().get(SIGNATURE_INDEX)
                    if signature is not None and jws_parts(signature.data)[1].get("iss") == active.ref:
                        continue
                    if record.identifier != self.keys.node_handle and await self.committer.resign(
                        tx, record, active
                    ):
                        changed += 1
                if changed:
                    await tx.increment_meta(SIGNATURES_EPOCH)  # caches elsewhere drop old signatures
                await tx.add_audit(
                    KEYS_ACTOR,
                    "resign",
                    f"records {batch[0][0]}..{batch[-1][0]}",
                    None,
                    {"resigned": changed, "key": active.ref},
                )
            after = batch[-1][0]
            seen += len(batch)
            resigned += changed
            if progress:
                progress(seen, total)
        return resigned

    async def certify(self, root: KeyFile, days: int) -> str:
        """Certify the active key with ``root`` (a top-level-node style HS_CERT) and publish it."""
        self.repository.require_writable()
        active = await self.active_key()
        now = epoch()
        payload = {
            "iss": f"jwk:{root.kid}",
            "sub": active.ref,
            "jwk": active.key.public_jwk,
            "iat": now,
            "nbf": now,
            "exp": now + days * 86400,
            "iss_jwk": root.public_jwk,
        }
        token = jws_sign(root.key, payload, root.kid)
        key_index = int(active.ref.split(":", 1)[0])
        while True:
            async with self.repository.transaction() as tx:
                node = await tx.get_record(self.keys.node_handle, lock=True)
                assert node is not None
                cert = certificate_value(key_index + CERT_INDEX_OFFSET, token, now)
                values = [v for v in node.values if v.index not in (cert.index, SIGNATURE_INDEX)] + [cert]
                if await self.committer.change(
                    tx, KEYS_ACTOR, node, Record.sorted_values(values), "certify-key"
                ):
                    break
        self.keys.forget()
        return token
