"""Referral and recursive resolution between real nodes: node B (88.888) holds records; node A
(88.999) finds B through its upper node (here B itself, which answers /api/prefixes for its own
prefixes) or DNS, and refers or resolves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import dns.message
import dns.query
import dns.rcode
import pytest
from pyhandle.handleclient import PyHandleClient

from tests.conftest import Server, free_port, run_cli, stop_server
from tests.dns.test_server import name_of
from tests.federation.conftest import start_node
from tests.federation.stubs import dns_server, forging_node
from tests.http.helpers import get_json, onboard, operator, put_values

ZONE = "idis.test"
URL = "https://example.com/pump/1"


class NodeB:
    """Node B, its enterprise prefix and trust anchor (B's key is certified by it)."""

    def __init__(self, server: Server, prefix: str, anchor: Path) -> None:
        self.server, self.prefix, self.anchor = server, prefix, anchor

    def handle(self, suffix: str) -> str:
        return f"{self.prefix}/{suffix}"


async def _seed(server: Server) -> str:
    async with aiohttp.ClientSession() as client:
        prefix, auth = await onboard(client, server)
        for suffix in ("PUMP-1", "TAMPER", "UNSIGNED"):
            values = [
                {"index": 1, "type": "URL", "data": URL},
                {"index": 2, "type": "EMAIL", "data": "service@example.com"},
            ]
            status, body = await put_values(client, server, f"{prefix}/{suffix}", values, auth)
            assert status == 200, body
    return prefix


@pytest.fixture(scope="module")
def node_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeB]:
    root = tmp_path_factory.mktemp("root")
    data_dir = tmp_path_factory.mktemp("b")
    (data_dir / "idnode.toml").write_text('node_prefix = "88.888"\n')
    init = json.loads(run_cli("init", "--data-dir", str(data_dir), "--json").stdout)
    run_cli("keys", "generate", "--out", str(root / "root.pem"))
    run_cli("keys", "certify", "--root-key", str(root / "root.pem"), "--data-dir", str(data_dir))
    server = start_node(data_dir, node_prefix="88.888", public_log=True)
    server.operator = (init["operator"]["username"], init["operator"]["secret"])
    try:
        yield NodeB(server, asyncio.run(_seed(server)), root / "root.pub.pem")
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def zone(node_b: NodeB) -> Iterator[str]:
    """A DNS server for the zone idis.test: prefix 77.7 by SRV (two of them), 66.6 by TXT (B's URL)."""
    records = {
        ("_handle._tcp.7.77.idis.test.", "SRV"): ["20 0 9443 backup.example.", "10 5 8443 node7.example."],
        ("_handle._tcp.6.66.idis.test.", "TXT"): [f'"url={node_b.server.url}" "prefix=66.6"'],
    }
    with dns_server(records) as address:
        yield address


@pytest.fixture(scope="module")
def referring(node_b: NodeB, zone: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Node A: refers, asking B as its upper node and then DNS; answers DNS queries itself too."""
    server = start_node(
        tmp_path_factory.mktemp("a"),
        dns=True,
        upper_node=node_b.server.url,
        discovery="both",
        discovery_zone=ZONE,
        discovery_nameserver=zone,
    )
    try:
        yield server
    finally:
        stop_server(server)


@contextmanager
def recursive_node(path: Path, upper: str, **settings: Any) -> Iterator[Server]:
    server = start_node(path, upper_node=upper, resolution_mode="recursive", **settings)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def resolving(node_b: NodeB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Node A resolving recursively, trusting the root that certified B's key."""
    with recursive_node(
        tmp_path_factory.mktemp("a"), node_b.server.url, trust_anchor=str(node_b.anchor)
    ) as server:
        yield server


async def test_a_node_answers_where_its_own_prefixes_live(
    node_b: NodeB, session: aiohttp.ClientSession
) -> None:
    url = node_b.server.url
    status, body = await get_json(session, f"{url}/api/prefixes/{node_b.prefix.upper()}")
    assert status == 200
    assert body == {"responseCode": 1, "prefix": node_b.prefix, "node": {"url": url, "prefix": "88.888"}}
    status, body = await get_json(session, f"{url}/api/prefixes/88.999")
    assert status == 404 and body["responseCode"] == 100
    status, body = await get_json(session, f"{url}/api/prefixes/88.888!")
    assert status == 400 and body["responseCode"] == 102


async def test_a_public_log_is_readable_by_anyone(node_b: NodeB, session: aiohttp.ClientSession) -> None:
    status, body = await get_json(session, f"{node_b.server.url}/api/log/entries?start=1")
    assert status == 200 and body["start"] == 1 and body["entries"][0]["seq"] == 1
    assert len(body["entries"]) == body["tree_size"] - 1


async def test_referral_to_the_node_holding_the_prefix(
    node_b: NodeB, referring: Server, session: aiohttp.ClientSession
) -> None:
    handle = node_b.handle("PUMP-1")
    target = f"{node_b.server.url}/api/handles/{handle}"
    # Anonymous (the fast path) and authenticated (the web application) callers get the same referral.
    for headers in ({}, operator(referring)):
        async with session.get(
            f"{referring.url}/api/handles/{handle}", headers=headers, allow_redirects=False
        ) as response:
            body = await response.json()
            assert response.status == 302, body
            assert response.headers["Location"] == target
            max_age = int(response.headers["Cache-Control"].removeprefix("max-age="))
            assert 290 < max_age <= 300  # referral_cache_seconds, less what has passed
        assert body["responseCode"] == 302 and body["handle"] == handle
        assert body["referral"] == {
            "prefix": node_b.prefix,
            "node": {"url": node_b.server.url, "prefix": "88.888"},
        }
    async with session.get(
        f"{referring.url}/api/handles/{handle}?type=URL", allow_redirects=False
    ) as response:
        assert response.headers["Location"] == f"{target}?type=URL"
    status, followed = await get_json(session, f"{referring.url}/api/handles/{handle}")
    _, direct = await get_json(session, target)
    assert status == 200 and followed == direct and followed["values"][0]["data"]["value"] == URL


def test_dns_refuses_names_of_identifiers_held_elsewhere(node_b: NodeB, referring: Server) -> None:
    query = dns.message.make_query(name_of(node_b.handle("PUMP-1")), "TXT")
    answer = dns.query.udp(query, "127.0.0.1", port=referring.dns_port, timeout=5)
    assert answer.rcode() == dns.rcode.REFUSED and not answer.answer


async def test_pyhandle_follows_the_referral(node_b: NodeB, referring: Server) -> None:
    client = PyHandleClient("rest").instantiate_for_read_access(handle_server_url=referring.url)
    record = await asyncio.to_thread(client.retrieve_handle_record, node_b.handle("PUMP-1"))
    assert record is not None and record["URL"] == URL


async def test_unknown_prefix_is_not_found(referring: Server, session: aiohttp.ClientSession) -> None:
    status, body = await get_json(session, f"{referring.url}/api/handles/55.5/X")
    assert status == 404 and body["responseCode"] == 100
    assert "no node is known for prefix 55.5" in body["message"]


async def test_own_prefix_is_never_referred(referring: Server, session: aiohttp.ClientSession) -> None:
    status, body = await get_json(session, f"{referring.url}/api/handles/88.999.4242/ABSENT")
    assert status == 404 and "not found" in body["message"]


async def test_dns_discovery_by_txt_and_srv(
    node_b: NodeB, referring: Server, session: aiohttp.ClientSession
) -> None:
    # B's upper node (B) knows nothing of 66.6 or 77.7: DNS answers, for the prefix or a parent.
    async with session.get(f"{referring.url}/api/handles/66.6.1/X", allow_redirects=False) as response:
        body = await response.json()
        assert response.status == 302
        assert response.headers["Location"] == f"{node_b.server.url}/api/handles/66.6.1/X"
    assert body["referral"] == {"prefix": "66.6", "node": {"url": node_b.server.url, "prefix": "66.6"}}
    async with session.get(f"{referring.url}/api/handles/77.7/P%201", allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == "https://node7.example:8443/api/handles/77.7/P%201"


async def test_recursive_resolution_returns_the_verified_record(
    node_b: NodeB, resolving: Server, session: aiohttp.ClientSession
) -> None:
    handle = node_b.handle("PUMP-1")
    _, direct = await get_json(session, f"{node_b.server.url}/api/handles/{handle}")
    assert any(v["type"] == "HS_SIGNATURE" for v in direct["values"])
    for headers in ({}, operator(resolving)):
        async with session.get(f"{resolving.url}/api/handles/{handle}", headers=headers) as response:
            assert response.status == 200
            assert response.headers["Idnode-Origin"] == node_b.server.url
            assert await response.json() == direct
    status, body = await get_json(session, f"{resolving.url}/api/handles/{handle}?type=EMAIL")
    assert status == 200 and [v["type"] for v in body["values"]] == ["EMAIL"]
    status, body = await get_json(session, f"{resolving.url}/api/handles/{node_b.handle('ABSENT')}")
    assert status == 404 and body["responseCode"] == 100


def _tamper(record: dict[str, Any]) -> None:
    if record["handle"].endswith("/TAMPER"):
        record["values"][0]["data"]["value"] = "https://evil.example/"
    elif record["handle"].endswith("/UNSIGNED"):
        record["values"] = [v for v in record["values"] if v["type"] != "HS_SIGNATURE"]


@pytest.fixture
def forger(node_b: NodeB) -> Iterator[str]:
    with forging_node(node_b.server.url, "88.888", _tamper) as url:
        yield url


async def test_recursive_resolution_refuses_forged_records(
    node_b: NodeB, forger: str, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    with recursive_node(tmp_path / "a", forger) as resolver:
        status, body = await get_json(session, f"{resolver.url}/api/handles/{node_b.handle('PUMP-1')}")
        assert status == 200 and body["values"][0]["data"]["value"] == URL
        status, body = await get_json(session, f"{resolver.url}/api/handles/{node_b.handle('TAMPER')}")
        assert status == 500 and body["responseCode"] == 2
        assert "failed verification" in body["message"] and "(altered)" in body["message"]
        status, body = await get_json(session, f"{resolver.url}/api/handles/{node_b.handle('UNSIGNED')}")
        assert status == 500 and "carries no HS_SIGNATURE" in body["message"]


async def test_recursive_resolution_needs_the_trust_anchor(
    node_b: NodeB, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    run_cli("keys", "generate", "--out", str(tmp_path / "other.pem"))
    anchor = str(tmp_path / "other.pub.pem")
    with recursive_node(tmp_path / "a", node_b.server.url, trust_anchor=anchor) as resolver:
        status, body = await get_json(session, f"{resolver.url}/api/handles/{node_b.handle('PUMP-1')}")
        assert status == 500 and "not signed by the trust anchor" in body["message"]


async def test_unreachable_upper_node_is_a_temporary_failure(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    server = start_node(tmp_path / "a", upper_node=f"http://127.0.0.1:{free_port()}")
    try:
        status, body = await get_json(session, f"{server.url}/api/handles/88.888.1001/X")
        assert status == 503 and body["responseCode"] == 3
        assert "/api/prefixes/88.888.1001 failed" in body["message"]
    finally:
        stop_server(server)
