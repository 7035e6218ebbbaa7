"""The DNS front end end to end: a real ``idnode serve --dns`` process asked with dnspython's resolver
and raw queries over UDP and TCP, next to HTTP writes, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from idnode.dns.names import encode
from idnode.model.identifier import Identifier
from tests.conftest import Server, run_cli, start_server, stop_server
from tests.http.helpers import onboard, operator, put_values

ZONE = "idnode.test."


def name_of(handle: str) -> str:
    return ".".join(encode(Identifier.parse(handle))) + "." + ZONE


def resolver_for(server: Server) -> dns.resolver.Resolver:
    """dnspython's stub resolver, asking only ``server`` (no cache: every lookup reaches it)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = server.dns_port or 0
    resolver.lifetime = 5
    return resolver


def texts(answer: dns.resolver.Answer) -> set[str]:
    return {b"".join(rdata.strings).decode() for rdata in answer}


async def metrics(session: aiohttp.ClientSession, server: Server) -> dict[str, float]:
    async with session.get(f"{server.url}/metrics", headers=operator(server)) as resp:
        lines = (await resp.text()).splitlines()
    return {
        name: float(value) for name, _, value in (line.rpartition(" ") for line in lines) if name[:1] != "#"
    }


def ask_udp(server: Server, name: str, rdtype: str = "TXT", **options: object) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **options)  # type: ignore[arg-type]
    return dns.query.udp(query, "127.0.0.1", port=server.dns_port or 0, timeout=5)


async def test_txt_and_uri_over_udp_and_tcp(dns_node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, dns_node)
    handle = f"{prefix}/PUMP-2026-000123"
    values = [
        {"index": 1, "type": "URL", "data": "https://example.com/pump/123", "ttl": 3600},
        {"index": 2, "type": "EMAIL", "data": "service@example.com"},
    ]
    assert (await put_values(session, dns_node, handle, values, auth, overwrite="false"))[0] == 201
    resolver, name = resolver_for(dns_node), name_of(handle)
    for tcp in (False, True):
        txt = resolver.resolve(name, "TXT", tcp=tcp)
        assert {"1=URL=https://example.com/pump/123", "2=EMAIL=service@example.com"} <= texts(txt)
        assert f"HS_SIGNATURE=400:{handle}" in texts(txt) and txt.rrset is not None and txt.rrset.ttl == 3600
        assert txt.response.flags & dns.flags.AA and not txt.response.flags & dns.flags.RA
        uri = resolver.resolve(name, "URI", tcp=tcp)
        assert [(r.priority, r.weight, r.target) for r in uri] == [(1, 1, b"https://example.com/pump/123")]


async def test_absent_identifiers_are_nxdomain_with_the_soa(
    dns_node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, _ = await onboard(session, dns_node)
    name = name_of(f"{prefix}/NOT-THERE")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver_for(dns_node).resolve(name, "TXT")
    response = ask_udp(dns_node, name)
    assert response.rcode() == dns.rcode.NXDOMAIN and response.flags & dns.flags.AA
    soa = response.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == ZONE and soa[0].minimum == 5
    # the enterprise's own name has names below it: no data, not NXDOMAIN
    enterprise = ask_udp(dns_node, ".".join(reversed(prefix.split("."))) + "." + ZONE)
    assert enterprise.rcode() == dns.rcode.NOERROR and not enterprise.answer


async def test_large_answers_are_truncated_over_udp_and_complete_over_tcp(
    dns_node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, dns_node)
    handle = f"{prefix}/manual-set"
    values = [
        {"index": n, "type": "URL", "data": f"https://example.com/{'m' * 300}/{n}"} for n in range(1, 9)
    ]
    assert (await put_values(session, dns_node, handle, values, auth, overwrite="false"))[0] == 201
    name = name_of(handle)
    for options in ({}, {"use_edns": 0, "payload": 1232}):
        truncated = ask_udp(dns_node, name, **options)
        assert truncated.flags & dns.flags.TC and not truncated.answer
    complete = dns.query.tcp(
        dns.message.make_query(name, "TXT"), "127.0.0.1", port=dns_node.dns_port, timeout=5
    )
    assert not complete.flags & dns.flags.TC and len(complete.answer[0]) == 8 + 2  # + HS_ADMIN, signature
    # dnspython's resolver sees TC and asks again over TCP by itself
    assert len(resolver_for(dns_node).resolve(name, "URI")) == 8


async def test_a_change_over_http_is_seen_over_dns(dns_node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, dns_node)
    handle, resolver = f"{prefix}/lot-7", resolver_for(dns_node)
    with pytest.raises(dns.resolver.NXDOMAIN):  # cached negatively, shared with HTTP
        resolver.resolve(name_of(handle), "TXT")
    async with session.get(f"{dns_node.url}/api/handles/{handle}") as resp:
        assert resp.status == 404
    first = [{"index": 1, "type": "URL", "data": "https://example.com/v1"}]
    assert (await put_values(session, dns_node, handle, first, auth, overwrite="false"))[0] == 201
    # HTTP reads the entry DNS made: a hit right after the DNS answer. The cache stops trusting its
    # entries when the log feed falls behind (a loaded machine), so a lapse is retried, not believed.
    for _ in range(5):
        assert "1=URL=https://example.com/v1" in texts(resolver.resolve(name_of(handle), "TXT"))
        before = await metrics(session, dns_node)
        async with session.get(f"{dns_node.url}/api/handles/{handle}") as resp:
            assert (await resp.json())["values"][0]["data"]["value"] == "https://example.com/v1"
        after = await metrics(session, dns_node)
        hits = after["idnode_cache_hits_total"] - before["idnode_cache_hits_total"]
        misses = after["idnode_cache_misses_total"] - before["idnode_cache_misses_total"]
        assert hits + misses == 1
        if hits == 1:
            break
    assert hits == 1, "HTTP never found the entry the DNS answer came from"
    assert after['idnode_dns_responses_total{rcode="NXDOMAIN",transport="udp"}'] >= 1
    second = [{"index": 1, "type": "URL", "data": "https://example.com/v2"}]
    assert (await put_values(session, dns_node, handle, second, auth))[0] == 200
    assert "1=URL=https://example.com/v2" in texts(resolver.resolve(name_of(handle), "TXT"))
    async with session.delete(f"{dns_node.url}/api/handles/{handle}", headers=auth) as resp:
        assert resp.status == 200
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve(name_of(handle), "URI")


def test_not_an_open_resolver(dns_node: Server) -> None:
    for name in ("example.com.", "idnode.test.example."):
        response = ask_udp(dns_node, name, "A")
        assert response.rcode() == dns.rcode.REFUSED and not response.answer
        assert not response.flags & (dns.flags.RA | dns.flags.AA)
    with pytest.raises(dns.resolver.NoNameservers):
        resolver_for(dns_node).resolve("example.com.", "A")


def test_malformed_messages_get_formerr_or_nothing_and_serving_goes_on(dns_node: Server) -> None:
    query = dns.message.make_query(ZONE, "SOA")
    wire = query.to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.connect(("127.0.0.1", dns_node.dns_port))
        for junk in (b"", b"\x00", wire[:12] + b"\xff" * 40, wire[:-2], bytes(range(256)) * 2):
            udp.send(junk)
        udp.send(wire[:2] + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3f")  # header, broken name
        formerr = dns.message.from_wire(udp.recv(4096))
        assert formerr.id == query.id and formerr.rcode() == dns.rcode.FORMERR
    with socket.create_connection(("127.0.0.1", dns_node.dns_port or 0), timeout=5) as tcp:
        tcp.sendall(struct.pack(">H", 3) + b"\x00\x01\x02" + struct.pack(">H", len(wire)) + wire)
        size = struct.unpack(">H", tcp.recv(2))[0]
        answer = dns.message.from_wire(tcp.recv(size))
        assert query.is_response(answer) and answer.answer[0].rdtype == dns.rdatatype.SOA
    assert ask_udp(dns_node, ZONE, "SOA").rcode() == dns.rcode.NOERROR


@pytest.fixture
def dns_only(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path / "node", dns=True, http=False)
    try:
        yield running
    finally:
        stop_server(running)


def test_dns_without_http(dns_only: Server) -> None:
    assert ask_udp(dns_only, ZONE, "SOA").answer[0][0].mname.to_text() == "localhost."
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(dns_only.url.rsplit(":", 1)[1])), timeout=2)
    run_cli("enterprise", "add", *dns_only.cli_args(), "--name", "东台光伏组件有限公司", "--uscc",
            "91320900MA0000002P", "--district", "东台市", "--industry", "电气机械和器材制造业")  # fmt: skip
    response = ask_udp(dns_only, f"1001.999.88.{ZONE}")  # an enterprise made by another process
    assert response.rcode() == dns.rcode.NOERROR and not response.answer
