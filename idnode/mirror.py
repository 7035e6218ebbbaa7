"""Following a primary node as a read-only mirror (``mirror_of``).

A mirror holds exactly what its primary serves to anyone, signed by the primary, and the primary's
transparency log leaf for leaf. Its place in the primary's log is therefore its own log's size,
stored in the transaction that stores the records, so a restarted mirror resumes where it stopped
and never applies a change twice or skips one. Nothing else writes to a mirror (ReadOnlyMirror).

Every ``mirror_poll_seconds`` the follower:

1. reads the primary's signed tree head (``/api/log/sth``) and checks its signature against the
   primary's published key (and, with ``trust_anchor``, the key's certificate);
2. reads the entries it lacks up to that head (``/api/log/entries``, with ``mirror_credential``
   unless the primary's log is public), a batch at a time, each checked to be the entry at its
   position (sequence number, handle, leaf hash);
3. fetches the current record of every handle a batch names as anyone would (``auth=true``: from the
   primary's store, not its cache), verifies its signature offline against the primary's key, and
   stores it as received (deletes it on 404) together with the batch's entries in one transaction
   (``Committer.mirror``); template versions the records name that the mirror lacks are copied first;
4. checks its log's root at the head's size against the head, and keeps the head: the mirror serves
   it at ``/api/log/sth``, and its proofs lead to it.

A record fetched may be newer than the entry naming it: the newer change's entry follows and fetches
it again, so the mirror converges on the primary. A failure (primary unreachable, a record failing
verification, a different root) stores nothing of the batch; the next poll starts again from the
mirror's log size. Several processes of one mirror may follow at once: the log's sequence numbers
let one of them store each batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from idnode import merkle
from idnode.background import running
from idnode.core import Core
from idnode.model.errors import IdnodeError, UnverifiedRecord
from idnode.model.identifier import Identifier, prefix_handle
from idnode.model.record import Record
from idnode.model.template import parse_ref
from idnode.model.values import TEMPLATE, HandleValue
from idnode.peers import get_json
from idnode.referral import handle_url
from idnode.signing import PublicKey, load_public_key
from idnode.storage.repository import DuplicateKey
from idnode.translog import MIRRORED_HEAD, b64
from idnode.verify import Fetch, Report, require_verified, verify_tree_head

log = logging.getLogger(__name__)
BATCH = 500
CONCURRENT_FETCHES = 16
MIRROR_ACTOR = "mirror"


class MirrorDiverged(IdnodeError):
    """The primary's log is not an extension of the one this mirror holds."""


@dataclass
class MirrorStatus:
    """The follower's figures for /metrics (this process)."""

    applied: int = 0  # entries of the primary's log held here
    primary: int = 0  # the primary's log size at the last poll that reached it
    head_time: float | None = None  # when the primary signed the newest head this mirror holds entirely
    records_fetched: int = 0  # since this process started
    failed_polls: int = 0

    def lag_seconds(self, now: float) -> float | None:
        """How old the newest primary state known to be held here is (None before the first)."""
        return None if self.head_time is None else max(0.0, now - self.head_time)


def basic_auth(credential: str) -> aiohttp.BasicAuth | None:
    """``<index>:<handle>:<secret>`` as Basic credentials (the username's colon percent-encoded, as
    Handle clients send it)."""
    if not credential:
        return None
    index, _, rest = credential.partition(":")
    handle, _, secret = rest.partition(":")
    if not index.isdigit() or not handle or not secret:
        raise ValueError("mirror_credential must look like 300:0.NA/88.999:<secret>")
    return aiohttp.BasicAuth(f"{index}%3A{handle}", secret)


def received(identifier: Identifier, body: dict[str, Any]) -> Record:
    """A record as the primary served it, to store unchanged (timestamps included)."""
    values = []
    for value in body["values"]:
        moment = datetime.strptime(value["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        values.append(HandleValue.from_json(value).stamped(int(moment.timestamp())))
    return Record(identifier, Record.sorted_values(values))


class MirrorFollower:
    """Keeps a mirror's store and log equal to its primary's; see the module docstring."""

    def __init__(self, core: Core, session: aiohttp.ClientSession) -> None:
        settings = core.settings
        self.primary = settings.mirror_of.rstrip("/")
        self.node_prefix = settings.node_prefix_canonical
        self.repository = core.repository
        self.committer = core.registry.committer
        self.templates = core.templates
        self.session = session
        self.auth = basic_auth(settings.mirror_credential)
        self.trust_anchor: PublicKey | None = (
            load_public_key(settings.trust_anchor) if settings.trust_anchor else None
        )
        self.status = MirrorStatus()
        self.prefix_checked = False

    async def start(self) -> None:
        """Read where the mirror stands (its log size, the last head it checked)."""
        self.status.applied = await self.repository.log_size()
        stored = await self.repository.get_meta(MIRRORED_HEAD)
        if stored is not None:
            head = orjson.loads(stored)
            self.status.primary, self.status.head_time = head["tree_size"], head["timestamp"] / 1000

    async def poll(self) -> None:
        """Bring the mirror up to the primary's current signed tree head."""
        fetch = self._fetcher()
        if not self.prefix_checked:
            await self._check_prefix()
        head = await self._checked_head(fetch)
        size = head["tree_size"]
        applied = await self.repository.log_size()
        if size < applied:
            raise MirrorDiverged(f"The primary's log has {size} entries, fewer than the {applied} held here.")
        while applied < size:
            entries = await self._entries(applied, min(BATCH, size - applied))
            try:
                await self._apply(applied, entries, fetch)
            except (IdnodeError, DuplicateKey) as exc:
                if await self.repository.log_size() == applied:
                    raise
                log.info("another process of this mirror applied entries from %d first (%s)", applied, exc)
            applied = self.status.applied = await self.repository.log_size()
        self.status.primary = size
        await self._keep(head)

    def _fetcher(self) -> Fetch:
        """Records as the primary serves them to anyone, remembered for one poll (the key record)."""
        seen: dict[str, dict[str, Any] | None] = {}

        async def fetch(handle: str) -> dict[str, Any] | None:
            if handle not in seen:
                seen[handle] = await get_json(self.session, handle_url(self.primary, handle) + "?auth=true")
            return seen[handle]

        return fetch

    async def _check_prefix(self) -> None:
        node = await get_json(self.session, f"{self.primary}/api/node")
        found = (node or {}).get("nodePrefix")
        if found != self.node_prefix:
            raise MirrorDiverged(
                f"{self.primary} is node {found}, but this mirror is configured for {self.node_prefix}: "
                f"set node_prefix = {found!r}."
            )
        self.prefix_checked = True

    async def _checked_head(self, fetch: Fetch) -> dict[str, Any]:
        head = await get_json(self.session, f"{self.primary}/api/log/sth")
        report = Report(f"tree head of {self.primary}")
        subject = str(prefix_handle(self.node_prefix))
        if head is None or not await verify_tree_head(
            report, head, fetch, self.trust_anchor, int(time.time()), subject
        ):
            failed = "; ".join(f.detail for f in report.findings if not f.ok) or "no tree head"
            raise UnverifiedRecord(f"The primary's signed tree head failed verification: {failed}.")
        return head

    async def _entries(self, start: int, limit: int) -> list[tuple[str, bytes]]:
        """(handle, entry) of the primary's log entries from ``start``, each checked to be the one at
        its position."""
        url = f"{self.primary}/api/log/entries?start={start}&limit={limit}"
        body = await get_json(self.session, url, auth=self.auth)
        listed = (body or {}).get("entries")
        if not isinstance(listed, list) or not listed:
            raise MirrorDiverged(f"{url} listed no entries, though the primary's tree head has them.")
        entries = []
        for seq, item in enumerate(listed, start):
            text = str(item.get("entry", "")).encode("utf-8")
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                parsed = {}
            if (
                item.get("seq") != seq
                or parsed.get("seq") != seq
                or parsed.get("handle") != item.get("handle")
                or item.get("leaf_hash") != b64(merkle.leaf_hash(text))
            ):
                raise MirrorDiverged(f"Entry {seq} from {self.primary} is not the entry at that position.")
            entries.append((str(item["handle"]), text))
        return entries

    async def _apply(self, start: int, entries: list[tuple[str, bytes]], fetch: Fetch) -> None:
        """Store the current records of the handles ``entries`` name, and the entries, in one
        transaction."""
        handles = list(dict.fromkeys(handle for handle, _ in entries))
        limit = asyncio.Semaphore(CONCURRENT_FETCHES)

        async def current(handle: str) -> tuple[Identifier, Record | None]:
            identifier = Identifier.parse(handle)
            async with limit:
                body = await get_json(self.session, handle_url(self.primary, handle) + "?auth=true")
            self.status.records_fetched += 1
            if body is None:
                return identifier, None
            await require_verified(identifier, body, fetch, self.primary, self.trust_anchor)
            return identifier, received(identifier, body)

        changes = await asyncio.gather(*(current(handle) for handle in handles))
        documents = await self._missing_templates(record for _, record in changes if record is not None)
        async with self.repository.transaction(mirroring=True) as tx:
            for name, version, document in documents:
                with contextlib.suppress(DuplicateKey):  # another process of this mirror copied it
                    await tx.insert_template(name, version, document, MIRROR_ACTOR)
            await self.committer.mirror(tx, changes, start, entries)

    async def _missing_templates(self, records: Iterable[Record]) -> list[tuple[str, int, str]]:
        """(name, version, document) of the template versions ``records`` name that are not here."""
        refs = {v.data for record in records for v in record.values if v.type == TEMPLATE}
        missing = refs - set(await self.templates.get_many(refs))
        documents = []
        for ref in sorted(missing):
            key = parse_ref(ref)
            if key is None:
                continue  # not a template reference: the record's own business, as on the primary
            name, version = key
            body = await get_json(self.session, f"{self.primary}/api/templates/{quote(name)}/{version}")
            if body is not None:
                documents.append((name, version, orjson.dumps(body["template"]["document"]).decode()))
        return documents

    async def _keep(self, head: dict[str, Any]) -> None:
        """Check the local log's root at the head's size against it, and keep the head."""
        size = head["tree_size"]
        async with self.repository.log_reader() as (_, subtree):
            root = await merkle.range_hash(subtree, 0, size)
        if b64(root) != head["sha256_root_hash"]:
            raise MirrorDiverged(f"The log held here differs from the primary's at tree size {size}.")
        stored = await self.repository.get_meta(MIRRORED_HEAD)
        if stored is None or orjson.loads(stored)["tree_size"] != size:
            async with self.repository.transaction(mirroring=True) as tx:
                await tx.put_meta(MIRRORED_HEAD, orjson.dumps(head).decode())
        self.status.head_time = head["timestamp"] / 1000

    async def run(self, interval: float) -> None:
        """Poll forever, every ``interval`` seconds; failures are logged (once while they repeat)."""
        last_failure = ""
        while True:
            try:
                await self.poll()
                last_failure = ""
            except Exception as exc:  # anything: the mirror keeps serving what it has, and retries
                self.status.failed_polls += 1
                message = exc.message if isinstance(exc, IdnodeError) else repr(exc)
                if message != last_failure:
                    log.error("following %s: %s", self.primary, message)
                last_failure = message
            await asyncio.sleep(interval)


@asynccontextmanager
async def following_primary(core: Core) -> AsyncIterator[MirrorFollower]:
    """Run a MirrorFollower for ``core`` (a mirror) for the duration of the block."""
    assert core.session is not None
    follower = MirrorFollower(core, core.session)
    await follower.start()
    async with running(follower.run(core.settings.mirror_poll_seconds), "idnode-mirror"):
        yield follower
