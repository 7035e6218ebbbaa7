"""kill -9 of a node in the middle of a stream of writes (SQLite and PostgreSQL): after a restart on the
same store every acknowledged write is there with its content, and every record's signature, log entry
and the log's tree head agree."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from pathlib import Path

import aiohttp

from tests.conftest import Server, start_server, stop_server
from tests.http.helpers import Credentials, onboard, operator, put_values
from tests.integrity import audit_counts, check_node, value_at

STREAMS = 4
KILL_AFTER_ACKNOWLEDGED = 60


@dataclasses.dataclass
class Writes:
    """Per handle: the content of the newest acknowledged write, and what was sent after it unanswered."""

    acknowledged: dict[str, str] = dataclasses.field(default_factory=dict)
    unanswered: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    count: int = 0

    def pending(self) -> int:
        """How many writes were sent and never answered."""
        return sum(len(sent) for sent in self.unanswered.values())

    def allowed(self, handle: str) -> set[str | None]:
        """The contents the handle may hold after the crash: its newest acknowledged one or one sent
        after it (that write may have committed without its answer getting out); None if never acked."""
        return {self.acknowledged.get(handle), *self.unanswered.get(handle, [])}


async def stream(
    session: aiohttp.ClientSession, node: Server, admin: Credentials, name: str, writes: Writes
) -> None:
    """Create a handle, update it, create the next…, recording answers, until the node stops answering."""
    for n in range(10_000):
        handle = f"{name}-{n // 2}"
        content = f"https://example.com/{handle}/{n}"
        params = {"overwrite": "false"} if n % 2 == 0 else {}
        writes.unanswered.setdefault(handle, []).append(content)
        try:
            status, _ = await put_values(
                session, node, handle, [{"index": 1, "type": "URL", "data": content}], admin, **params
            )
        except aiohttp.ClientError:
            return
        assert status in (200, 201), status
        writes.acknowledged[handle] = content
        writes.unanswered[handle] = []
        writes.count += 1


async def kill_mid_stream(node: Server, prefix: str, admin: Credentials, round_: int, writes: Writes) -> int:
    """Write in STREAMS streams until KILL_AFTER_ACKNOWLEDGED more writes are acknowledged, then
    SIGKILL the node; return how many writes were in flight then."""
    target, pending_before = writes.count + KILL_AFTER_ACKNOWLEDGED, writes.pending()
    async with aiohttp.ClientSession() as session:
        streams = [
            asyncio.create_task(stream(session, node, admin, f"{prefix}/crash-{round_}-{number}", writes))
            for number in range(STREAMS)
        ]
        while writes.count < target:
            assert not any(task.done() for task in streams), "a writer stopped before the kill"
            await asyncio.sleep(0.01)
        node.process.send_signal(signal.SIGKILL)
        node.process.wait()
        await asyncio.gather(*streams)
    in_flight = writes.pending() - pending_before
    assert in_flight > 0, "no write was in flight at the kill: the test proved nothing"
    return in_flight


async def check_recovered(node: Server, prefix: str, writes: Writes) -> str:
    """Every acknowledged write is there with its content (or a newer one sent unanswered); every
    record under ``prefix`` verifies against the log and has an audit row per log entry. Returns a
    summary."""
    async with aiohttp.ClientSession() as session:
        stored = await listed(session, node, prefix)
        acknowledged = sorted(writes.acknowledged)
        assert set(acknowledged) <= set(stored)
        # Each record under the prefix (acknowledged, or committed without its answer getting out)
        # must be whole: signed, logged, audited.
        found = await check_node(session, node, stored)
        assert found.problems == []
        assert await audit_counts(node, stored) == {h: found.log_entries_per_handle[h] for h in stored}
        lost = [h for h in acknowledged if value_at(found.records[h], 1) not in writes.allowed(h)]
        assert lost == []
    return (
        f"{writes.count} writes acknowledged to {len(acknowledged)} handles, all found with their "
        f"content; {len(stored)} records and a log of {found.log_size} entries verified"
    )


async def crash_rounds(data_dir: Path, db: str, rounds: int) -> list[str]:
    """Start a node, then ``rounds`` times: kill it mid-stream, restart it on the same store and check
    it. Returns a summary line per round."""
    node = start_server(data_dir, db)
    summaries = []
    try:
        async with aiohttp.ClientSession() as session:
            prefix, admin = await onboard(session, node)
        writes = Writes()
        for round_ in range(rounds):
            in_flight = await kill_mid_stream(node, prefix, admin, round_, writes)
            stop_server(node)
            node = dataclasses.replace(start_server(data_dir, db), operator=node.operator)
            summary = await check_recovered(node, prefix, writes)
            summaries.append(f"round {round_ + 1}: {in_flight} writes in flight at the kill; {summary}")
    finally:
        stop_server(node)
    return summaries


async def test_acknowledged_writes_survive_kill_9(tmp_path: Path, db_url: str) -> None:
    (summary,) = await crash_rounds(tmp_path / "node", db_url, rounds=1)
    print(f"\n{db_url.split(':')[0] or 'sqlite'}: {summary}")


async def listed(session: aiohttp.ClientSession, node: Server, prefix: str) -> list[str]:
    """Every handle stored under ``prefix``."""
    params = {"prefix": prefix, "pageSize": "1000"}
    async with session.get(f"{node.url}/api/handles", params=params, headers=operator(node)) as response:
        assert response.status == 200
        return (await response.json())["handles"]
