"""Checking a node's state after a crash, an outage or a burst of concurrent writes, as an auditor would:
every record's signature verifies and matches its newest log entry, the log's leaves rebuild the root
its signed tree head states, and the store's audit trail agrees with the log.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from idnode import merkle
from idnode.storage.engine import create_engines, sqlite_url
from idnode.storage.repository import Repository
from idnode.verify import Report, verify_inclusion, verify_record, verify_tree_head
from tests.conftest import Server
from tests.http.helpers import operator
from tests.test_bulk import reference_root

PAGE = 1000


@dataclass
class Integrity:
    """What the checks found: ``problems`` is empty when the node's state is consistent."""

    log_size: int = 0
    log_entries_per_handle: Counter[str] = field(default_factory=Counter)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # handle → resolved record
    problems: list[str] = field(default_factory=list)

    def failed(self, report: Report) -> None:
        if not report.ok:
            self.problems.append(f"{report.handle}: {[f for f in report.findings if not f.ok]}")


def _fetcher(session: aiohttp.ClientSession, server: Server) -> Any:
    async def fetch(handle: str) -> dict[str, Any] | None:
        url = f"{server.url}/api/handles/{quote(handle, safe='/')}?auth=true"
        async with session.get(url) as response:
            return await response.json() if response.status == 200 else None

    return fetch


async def log_entries(session: aiohttp.ClientSession, server: Server) -> list[dict[str, Any]]:
    """Every entry of the node's transparency log, in order."""
    entries: list[dict[str, Any]] = []
    while True:
        params = {"start": str(len(entries)), "limit": str(PAGE)}
        async with session.get(
            f"{server.url}/api/log/entries", params=params, headers=operator(server)
        ) as response:
            assert response.status == 200, await response.text()
            page = (await response.json())["entries"]
        entries.extend(page)
        if len(page) < PAGE:
            return entries


async def check_node(session: aiohttp.ClientSession, server: Server, handles: list[str]) -> Integrity:
    """Check the log as a whole and each of ``handles`` (each must resolve) against it."""
    found = Integrity()
    fetch = _fetcher(session, server)
    async with session.get(f"{server.url}/api/log/sth") as response:
        sth = await response.json()
    head = Report("tree head")
    root = await verify_tree_head(head, sth, fetch, None, int(sth["timestamp"]) // 1000)
    found.failed(head)
    entries = await log_entries(session, server)  # the head first: the log may grow meanwhile
    found.log_size = len(entries)
    leaves = []
    for seq, entry in enumerate(entries):
        leaf = merkle.leaf_hash(entry["entry"].encode("utf-8"))
        if entry["seq"] != seq or base64.b64decode(entry["leaf_hash"]) != leaf:
            found.problems.append(f"log entry {seq}: sequence number or leaf hash does not match its text")
        leaves.append(leaf)
        found.log_entries_per_handle[entry["handle"]] += 1
    if len(entries) < sth["tree_size"] or root != reference_root(leaves[: sth["tree_size"]]):
        found.problems.append(f"tree head {sth} is not the root of the first entries of the {len(entries)}")
    for handle in handles:
        record = await fetch(handle)
        if record is None:
            found.problems.append(f"{handle}: does not resolve")
            continue
        found.records[handle] = record
        found.failed(await verify_record(record, fetch))
        async with session.get(f"{server.url}/api/log/proof", params={"handle": handle}) as response:
            proof = await response.json()
        found.failed(await verify_inclusion(record, proof, fetch))
    return found


async def audit_counts(server: Server, handles: list[str]) -> dict[str, int]:
    """How many audit rows the node's store holds for each of ``handles`` (read from the store itself:
    the audit trail has no HTTP view)."""
    engines = create_engines(server.db or sqlite_url(Path(server.data_dir)))
    try:
        repository = Repository(engines)
        return {handle: len(await repository.audit_trail(handle)) for handle in handles}
    finally:
        await engines.dispose()


def value_at(record: dict[str, Any], index: int) -> Any:
    """The data value at ``index`` of a resolved record, or None."""
    for value in record["values"]:
        if value["index"] == index:
            return value["data"]["value"]
    return None
