"""Upstream reporting end to end: a real node delivers its outbox to the real top-level node simulator
while the simulator works, fails, stalls and recovers, and while the node is killed and restarted."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from idnode.signing import KeyFile, jws_sign_detached
from tests.conftest import start_server
from tests.http.helpers import Credentials, onboard, operator, put_values
from tests.upstream.conftest import BATCH, Linked

NODE = "88.999"


async def wait_until(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.1)


async def received(session: aiohttp.ClientSession, linked: Linked) -> dict[str, Any]:
    async with session.get(f"{linked.simulator.url}/api/reports") as response:
        assert response.status == 200
        return await response.json()


async def set_mode(session: aiohttp.ClientSession, linked: Linked, mode: str) -> None:
    async with session.post(f"{linked.simulator.url}/control", json={"mode": mode}) as response:
        assert response.status == 200, await response.text()


async def backlog(session: aiohttp.ClientSession, linked: Linked) -> tuple[float, float]:
    """(pending reports, age of the oldest) as the node's /metrics gives them."""
    async with session.get(f"{linked.node.url}/metrics", headers=operator(linked.node)) as response:
        text = await response.text()
    found = dict(re.findall(r"^(idnode_upstream_\w+) (\S+)$", text, re.MULTILINE))
    return float(found["idnode_upstream_pending_reports"]), float(
        found["idnode_upstream_oldest_pending_seconds"]
    )


async def register(
    session: aiohttp.ClientSession, linked: Linked, admin: Credentials, prefix: str, names: range
) -> list[str]:
    """Create ``<prefix>/ITEM-<n>`` for each n; return the handles."""
    handles = [f"{prefix}/ITEM-{n}" for n in names]
    for handle in handles:
        value = [{"index": 1, "type": "URL", "data": f"https://example.com/{handle}"}]
        status, body = await put_values(session, linked.node, handle, value, admin, overwrite="false")
        assert status == 201, body
    return handles


async def delivered(session: aiohttp.ClientSession, linked: Linked, count: int) -> dict[str, Any]:
    """The simulator's state once the node has nothing left to send (asked first: everything it sent
    had arrived by then) and the simulator holds ``count`` reports."""

    async def done() -> dict[str, Any] | None:
        if (await backlog(session, linked))[0] > 0:
            return None
        state = await received(session, linked)
        return state if state["count"] == count else None

    return await wait_until(done)


def subjects(state: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["kind"], r["subject"]) for r in state["reports"]]


async def test_reports_arrive_in_order_in_signed_batches(
    linked: Linked, session: aiohttp.ClientSession
) -> None:
    prefix, admin = await onboard(session, linked.node)
    handles = await register(session, linked, admin, prefix, range(10))
    status, _ = await put_values(
        session, linked.node, handles[0], [{"index": 2, "type": "EMAIL", "data": "a@b"}], admin, index=2
    )
    assert status == 200
    async with session.delete(f"{linked.node.url}/api/handles/{handles[1]}", headers=admin) as response:
        assert response.status == 200
    state = await delivered(session, linked, 13)
    assert subjects(state) == [
        ("enterprise.create", prefix),
        *(("identifier.create", h) for h in handles),
        ("identifier.modify", handles[0]),
        ("identifier.delete", handles[1]),
    ]
    seqs = [r["seq"] for r in state["reports"]]
    assert seqs == sorted(seqs) and [r["id"] for r in state["reports"]] == [f"{NODE}:{s}" for s in seqs]
    assert state["duplicates"] == {} and sum(state["batches"]) == 13 and max(state["batches"]) <= BATCH
    assert state["reports"][0]["payload"]["uscc"] and "contact_name" not in state["reports"][0]["payload"]
    # A report's content digest and log position are those of the node's transparency log.
    async with session.get(f"{linked.node.url}/api/log/proof", params={"handle": handles[0]}) as response:
        proof = await response.json()
    entry = orjson.loads(proof["entry"])
    assert state["reports"][11]["payload"] == {
        "handle": handles[0],
        "record": entry["record"],
        "log": proof["leaf_index"],
    }
    # The top-level node now refers the enterprise's prefix (and the node's) to this node.
    for asked in (prefix, f"{prefix}.7", NODE):
        async with session.get(f"{linked.simulator.url}/api/prefixes/{asked}") as response:
            assert response.status == 200
            assert await response.json() == {
                "prefix": asked,
                "node": {"url": linked.node.url, "prefix": NODE},
            }
    async with session.get(f"{linked.simulator.url}/api/prefixes/88.777") as response:
        assert response.status == 404 and (await response.json())["responseCode"] == 100


async def test_the_simulator_refuses_a_batch_not_signed_by_the_node(
    linked: Linked, session: aiohttp.ClientSession
) -> None:
    body = orjson.dumps(
        {
            "version": 1,
            "node": NODE,
            "reports": [
                {
                    "id": f"{NODE}:1",
                    "seq": 1,
                    "kind": "identifier.delete",
                    "subject": "88.999.1/x",
                    "at": "2026-01-01T00:00:00Z",
                    "payload": {"handle": "88.999.1/x", "record": None, "log": 0},
                }
            ],
        }
    )
    stranger = KeyFile.generate()
    for signature in (jws_sign_detached(stranger.key, body, f"301:0.NA/{NODE}"), ""):
        headers = {"Content-Type": "application/json", "X-JWS-Signature": signature}
        async with session.post(
            f"{linked.simulator.url}/api/reports", data=body, headers=headers
        ) as response:
            assert response.status == 401
    assert (await received(session, linked))["count"] == 0


async def test_a_failing_upstream_gets_everything_once_it_recovers(
    linked: Linked, session: aiohttp.ClientSession
) -> None:
    await set_mode(session, linked, "fail")
    prefix, admin = await onboard(session, linked.node)
    handles = await register(session, linked, admin, prefix, range(21))
    await wait_until(lambda: _requests_at_least(session, linked, "failed", 3))  # retried, backing off
    pending, oldest = await backlog(session, linked)
    assert pending == 22 and oldest > 0
    assert (await received(session, linked))["count"] == 0
    await set_mode(session, linked, "ok")
    state = await delivered(session, linked, 22)
    assert subjects(state) == [("enterprise.create", prefix), *(("identifier.create", h) for h in handles)]
    assert state["duplicates"] == {}  # each report arrived exactly once
    assert state["batches"] == [7, 7, 7, 1]


async def test_a_stalled_upstream_is_timed_out_and_deduplicates_the_resends(
    linked: Linked, session: aiohttp.ClientSession
) -> None:
    await set_mode(session, linked, "stall")
    prefix, admin = await onboard(session, linked.node)
    handles = await register(session, linked, admin, prefix, range(5))
    await wait_until(lambda: _requests_at_least(session, linked, "stalled", 2))  # timed out, sent again
    assert (await backlog(session, linked))[0] == 6  # kept by the simulator, but never acknowledged
    await set_mode(session, linked, "ok")
    state = await delivered(session, linked, 6)
    ids = {r["id"] for r in state["reports"]}
    assert subjects(state) == [("enterprise.create", prefix), *(("identifier.create", h) for h in handles)]
    assert state["duplicates"] and set(state["duplicates"]) <= ids  # resent under the same ids, kept once


async def test_a_node_killed_mid_delivery_resends_only_what_was_not_acknowledged(
    linked: Linked, session: aiohttp.ClientSession
) -> None:
    prefix, admin = await onboard(session, linked.node)
    acknowledged = await register(session, linked, admin, prefix, range(6))
    first = await delivered(session, linked, 7)
    await set_mode(session, linked, "stall")
    in_flight = await register(session, linked, admin, prefix, range(6, 12))  # fewer than a batch
    await wait_until(lambda: _count_at_least(session, linked, 13))  # received, the answer held back
    linked.node.process.send_signal(signal.SIGKILL)
    linked.node.process.wait()
    await set_mode(session, linked, "ok")
    operator_credential = linked.node.operator
    linked.node = start_server(linked.node.data_dir, linked.node.db, linked.port)
    linked.node.operator = operator_credential
    state = await delivered(session, linked, 13)
    assert subjects(state) == [
        ("enterprise.create", prefix),
        *(("identifier.create", h) for h in acknowledged + in_flight),
    ]
    resent = {r["id"] for r in state["reports"] if r["subject"] in in_flight}
    assert set(state["duplicates"]) == resent  # every unacknowledged report came again, nothing else
    assert [r["id"] for r in state["reports"][:7]] == [r["id"] for r in first["reports"]]


async def _requests_at_least(session: aiohttp.ClientSession, linked: Linked, kind: str, count: int) -> bool:
    return (await received(session, linked))["requests"].get(kind, 0) >= count


async def _count_at_least(session: aiohttp.ClientSession, linked: Linked, count: int) -> bool:
    return (await received(session, linked))["count"] >= count
