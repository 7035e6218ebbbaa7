"""Fifty writers at once, on one handle and on many, against a real node (SQLite and PostgreSQL): no
update is lost, Handle.Net's overwrite rules hold under contention, and every acknowledged write leaves
exactly one audit row and one transparency-log entry behind a record whose signature verifies."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.conftest import Server
from tests.http.helpers import Credentials, onboard, put_values
from tests.integrity import Integrity, audit_counts, check_node, value_at

WRITERS = 50


def url(n: int) -> list[dict[str, Any]]:
    return [{"index": 1, "type": "URL", "data": f"https://example.com/writer/{n}"}]


async def all_at_once(
    session: aiohttp.ClientSession,
    node: Server,
    auth: Credentials,
    writes: list[tuple[str, Any, dict[str, str]]],
) -> list[tuple[int, dict[str, Any]]]:
    """Send every (handle, values, params) PUT at the same time; their (status, body) in order."""
    return await asyncio.gather(
        *(put_values(session, node, handle, values, auth, **params) for handle, values, params in writes)
    )


async def consistent(node: Server, session: aiohttp.ClientSession, handles: list[str]) -> Integrity:
    """Check the node's log and the records of ``handles``, and that the store audited each handle's
    changes exactly as often as the log recorded them; return what was found."""
    found = await check_node(session, node, handles)
    assert found.problems == []
    audits = await audit_counts(node, handles)
    assert audits == {handle: found.log_entries_per_handle[handle] for handle in handles}
    return found


def one_won(results: list[tuple[int, dict[str, Any]]], status: int, refusal: int) -> int:
    """The position of the one write answered ``status``; every other must be a 409 with ``refusal``."""
    statuses = [status for status, _ in results]
    assert statuses.count(status) == 1, statuses
    assert {(s, body["responseCode"]) for s, body in results if s != status} == {(409, refusal)}
    return statuses.index(status)


async def test_concurrent_creates_of_one_handle_one_wins_the_rest_are_told_it_exists(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, admin = await onboard(session, node)
    handle = f"{prefix}/contended-create"
    results = await all_at_once(
        session, node, admin, [(handle, url(n), {"overwrite": "false"}) for n in range(WRITERS)]
    )
    winner = one_won(results, 201, 101)  # Handle.Net: 101 HANDLE_ALREADY_EXISTS
    found = await consistent(node, session, [handle])
    assert value_at(found.records[handle], 1) == f"https://example.com/writer/{winner}"
    assert found.log_entries_per_handle[handle] == 1


async def test_concurrent_overwrites_of_one_handle_each_is_applied_once(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, admin = await onboard(session, node)
    handle = f"{prefix}/contended-overwrite"
    results = await all_at_once(session, node, admin, [(handle, url(n), {}) for n in range(WRITERS)])
    assert [(status, body["responseCode"]) for status, body in results] == [(200, 1)] * WRITERS
    found = await consistent(node, session, [handle])
    assert value_at(found.records[handle], 1) in {f"https://example.com/writer/{n}" for n in range(WRITERS)}
    # The first write created the record, every other one replaced it: one audit row and one log entry each.
    assert found.log_entries_per_handle[handle] == WRITERS


async def test_concurrent_index_writes_to_one_handle_lose_no_update(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, admin = await onboard(session, node)
    handle = f"{prefix}/contended-indexes"
    assert (await put_values(session, node, handle, url(0), admin))[0] == 200
    writes = [
        (
            handle,
            [{"index": 1000 + n, "type": "EMAIL", "data": f"w{n}@example.com"}],
            {"index": str(1000 + n)},
        )
        for n in range(WRITERS)
    ]
    results = await all_at_once(session, node, admin, writes)
    assert [status for status, _ in results] == [200] * WRITERS
    found = await consistent(node, session, [handle])
    # Each writer read, changed and stored the record: had any two overlapped, one's value would be gone.
    assert {value_at(found.records[handle], 1000 + n) for n in range(WRITERS)} == {
        f"w{n}@example.com" for n in range(WRITERS)
    }
    assert found.log_entries_per_handle[handle] == WRITERS + 1


async def test_concurrent_adds_of_one_index_one_wins_the_rest_are_told_it_exists(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, admin = await onboard(session, node)
    handle = f"{prefix}/contended-index"
    assert (await put_values(session, node, handle, url(0), admin))[0] == 200
    writes = [
        (
            handle,
            [{"index": 2, "type": "EMAIL", "data": f"w{n}@example.com"}],
            {"index": "2", "overwrite": "false"},
        )
        for n in range(WRITERS)
    ]
    results = await all_at_once(session, node, admin, writes)
    winner = one_won(results, 200, 201)  # Handle.Net: 201 VALUE_ALREADY_EXISTS
    found = await consistent(node, session, [handle])
    assert value_at(found.records[handle], 2) == f"w{winner}@example.com"
    assert found.log_entries_per_handle[handle] == 2


async def test_concurrent_writers_on_different_handles_all_land(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, admin = await onboard(session, node)
    handles = [f"{prefix}/parallel-{n}" for n in range(WRITERS)]
    results = await all_at_once(
        session, node, admin, [(h, url(n), {"overwrite": "false"}) for n, h in enumerate(handles)]
    )
    assert [status for status, _ in results] == [201] * WRITERS
    found = await consistent(node, session, handles)
    assert [value_at(found.records[h], 1) for h in handles] == [
        f"https://example.com/writer/{n}" for n in range(WRITERS)
    ]
    assert {found.log_entries_per_handle[h] for h in handles} == {1}
