"""Answers about the zone from the shared resolver, without a server (idnode/dns/zone.py, records.py)
on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from idnode.config import Settings
from idnode.core import Core, open_core
from idnode.dns import wire
from idnode.dns.memo import Key
from idnode.dns.names import encode
from idnode.dns.records import quote_type
from idnode.dns.zone import Zone
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.identifier import Identifier
from idnode.model.values import HandleValue
from idnode.sample import make_uscc

ZONE = "idnode.test."


def key_of(name: str, rdtype: str = "TXT") -> Key:
    parsed = wire.parse(dns.message.make_query(name, rdtype).to_wire())
    assert parsed is not None
    return parsed.key


async def ask(zone: Zone, name: str, rdtype: str = "TXT", rdclass: str = "IN") -> dns.message.Message:
    """Ask ``zone`` as the listeners do: the remembered answer if there is one, else resolve."""
    query = dns.message.make_query(name, rdtype, rdclass)
    parsed = wire.parse(query.to_wire())
    assert parsed is not None
    answer = zone.remembered(parsed.key) or await zone.answer(parsed.key)
    response = dns.message.from_wire(wire.respond(parsed, answer))
    assert query.is_response(response)
    return response


def name_of(handle: str) -> str:
    return ".".join(encode(Identifier.parse(handle))) + "." + ZONE


def texts(response: dns.message.Message) -> set[str]:
    rrset = response.find_rrset(response.answer, response.question[0].name, 1, dns.rdatatype.TXT)
    return {b"".join(rdata.strings).decode() for rdata in rrset}


def values(*raw: dict[str, Any]) -> list[HandleValue]:
    return [HandleValue.from_json(value) for value in raw]


async def enterprise(core: Core, serial: int = 1) -> str:
    fields = {
        "name": "测试企业",
        "uscc": make_uscc(serial),
        "district": "盐都区",
        "industry": "通用设备制造业",
    }
    created, _ = await core.registry.add_enterprise(
        core.local_operator, EnterpriseDraft.from_json(fields, core.settings.districts)
    )
    return created.prefix


async def put(core: Core, handle: str, *raw: dict[str, Any]) -> None:
    await core.registry.put_record(core.local_operator, Identifier.parse(handle), values(*raw))


@pytest.fixture
def zone(core: Core) -> Zone:
    return Zone(core.settings, core.resolver)


async def test_txt_and_uri_records_of_the_public_values(core: Core, zone: Zone) -> None:
    prefix = await enterprise(core)
    await put(
        core,
        f"{prefix}/PUMP-7",
        {"index": 1, "type": "URL", "data": "https://example.com/pump/7", "ttl": 600},
        {"index": 2, "type": "EMAIL", "data": "service@example.com"},
        {"index": 3, "type": "URL.manual", "data": "https://example.com/manual.pdf"},
        {"index": 5, "type": "NOTE", "data": "secret", "permissions": "1100"},
    )
    name = name_of(f"{prefix}/PUMP-7")
    assert name == f"_pump-7.{prefix.split('.')[2]}.999.88.{ZONE}"
    response = await ask(zone, name)
    assert response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA
    assert texts(response) == {
        "1=URL=https://example.com/pump/7",
        "2=EMAIL=service@example.com",
        "3=URL.manual=https://example.com/manual.pdf",
        f'100=HS_ADMIN={{"handle":"{prefix}/ADMIN","index":300,"permissions":"011111110011"}}',
        f"HS_SIGNATURE=400:{prefix}/PUMP-7",  # by reference; the non-public value is not there
    }
    assert response.answer[0].ttl == 600  # the smallest TTL of the values
    uri = (await ask(zone, name, "URI")).answer[0]
    assert sorted((r.priority, r.weight, r.target.decode()) for r in uri) == [
        (1, 1, "https://example.com/pump/7"),
        (3, 1, "https://example.com/manual.pdf"),
    ]
    everything = await ask(zone, name, "ANY")
    assert {rrset.rdtype for rrset in everything.answer} == {dns.rdatatype.TXT, dns.rdatatype.URI}
    # the same values as the anonymous HTTP answer, from the same cache entry
    http = core.resolver.cached(f"{prefix}/PUMP-7", "")
    assert http is not None and b'"service@example.com"' in http.body and b"secret" not in http.body


async def test_other_types_have_no_data_and_absent_handles_do_not_exist(core: Core, zone: Zone) -> None:
    prefix = await enterprise(core)
    await put(core, f"{prefix}/only-email", {"index": 2, "type": "EMAIL", "data": "x@example.com"})
    number = prefix.split(".")[2]
    for rdtype in ("A", "AAAA", "SOA", "MX"):
        response = await ask(zone, f"only-email.{number}.999.88.{ZONE}", rdtype)
        assert response.rcode() == dns.rcode.NOERROR and not response.answer
        assert response.authority[0].rdtype == dns.rdatatype.SOA
    assert not (await ask(zone, f"only-email.{number}.999.88.{ZONE}", "URI")).answer  # no URL value
    absent_name = f"_absent-1.{number}.999.88.{ZONE}"
    absent = await ask(zone, absent_name)
    assert zone.remembered(key_of(absent_name)) is not None  # asked again: no store, no rendering
    assert absent.rcode() == dns.rcode.NXDOMAIN and absent.flags & dns.flags.AA
    soa = absent.authority[0]
    assert soa.name.to_text() == ZONE and soa.ttl == 5 and soa[0].minimum == 5  # negative_cache_seconds


async def test_ancestors_of_existing_names_are_not_nxdomain(core: Core, zone: Zone) -> None:
    prefix = await enterprise(core)
    number = prefix.split(".")[2]
    for name in (f"{number}.999.88.{ZONE}", f"999.88.{ZONE}", f"88.{ZONE}", f"na.0.{ZONE}", f"0.{ZONE}"):
        response = await ask(zone, name)
        assert response.rcode() == dns.rcode.NOERROR and not response.answer, name
    for name in (
        f"9999.999.88.{ZONE}",
        f"x.{number}.999.88.{ZONE}",
        f"77.{ZONE}",
        f"a.b.{number}.999.88.{ZONE}",
    ):
        assert (await ask(zone, name)).rcode() == dns.rcode.NXDOMAIN, name


async def test_apex_and_refusals(core: Core, zone: Zone) -> None:
    soa = await ask(zone, ZONE, "SOA")
    assert (
        soa.answer[0][0].mname.to_text() == "localhost."
        and soa.answer[0][0].rname.to_text() == f"hostmaster.{ZONE}"
    )
    assert (await ask(zone, ZONE, "NS")).answer[0][0].target.to_text() == "localhost."
    assert {r.rdtype for r in (await ask(zone, ZONE, "ANY")).answer} == {dns.rdatatype.SOA, dns.rdatatype.NS}
    for name, rdtype, rdclass in (
        ("example.com.", "A", "IN"),  # not our zone: no recursion, not an open resolver
        ("idnode.test.example.", "TXT", "IN"),
        (ZONE, "AXFR", "IN"),  # no zone transfers
        (f"88.{ZONE}", "TXT", "CH"),
    ):
        response = await ask(zone, name, rdtype, rdclass)
        assert response.rcode() == dns.rcode.REFUSED and not response.answer
        assert not response.flags & (dns.flags.AA | dns.flags.RA)


async def test_a_write_changes_the_answer_at_once_and_resolutions_are_counted(core: Core, zone: Zone) -> None:
    prefix = await enterprise(core)
    handle = f"{prefix}/lot-1"
    name = name_of(handle)
    assert (await ask(zone, name)).rcode() == dns.rcode.NXDOMAIN
    await put(core, handle, {"index": 1, "type": "URL", "data": "https://example.com/v1"})
    assert "1=URL=https://example.com/v1" in texts(await ask(zone, name))  # the negative entry went too
    counter = core.resolver.counter
    assert counter is not None
    before = counter.counts[prefix]
    for _ in range(3):  # remembered: answered without the store, and still counted once each
        assert "1=URL=https://example.com/v1" in texts(await ask(zone, name))
    assert counter.counts[prefix] == before + 3
    await put(core, handle, {"index": 1, "type": "URL", "data": "https://example.com/v2"})
    assert "1=URL=https://example.com/v2" in texts(await ask(zone, name))
    assert counter.counts[prefix] == before + 4
    await core.registry.delete(core.local_operator, Identifier.parse(handle))
    assert (await ask(zone, name)).rcode() == dns.rcode.NXDOMAIN


async def test_special_values_as_text(core: Core, zone: Zone) -> None:
    prefix = await enterprise(core)
    long_chinese = "离心泵" * 100  # 900 octets of UTF-8
    await put(
        core,
        f"{prefix}/Mixed/Case",
        {"index": 1, "type": "a=b `c d", "data": "x=y"},
        {"index": 2, "type": "DESC", "data": long_chinese},
        {"index": 3, "type": "BIN", "data": {"format": "hex", "value": "00ff"}},
        {"index": 4, "type": "TTL0", "data": "now", "ttl": 0},
    )
    name = name_of(f"{prefix}/Mixed/Case")
    response = await ask(zone, name)
    assert texts(response) >= {
        f"1={quote_type('a=b `c d')}=x=y",
        "1=a`=b` ``c` d=x=y",
        "2=DESC=" + long_chinese,
    }
    assert "3=BIN=00ff" in texts(response) and "4=TTL0=now" in texts(response)
    strings = next(r.strings for r in response.answer[0] if r.strings[0].startswith(b"2="))
    assert all(len(s) <= 255 for s in strings) and all(s.decode() for s in strings)  # cut between characters
    assert response.answer[0].ttl == 0  # a value with TTL 0: no one caches the set
    assert zone.remembered(key_of(name)) is None


async def test_oversized_answers_fail_and_records_without_public_values_have_no_data(
    core: Core, zone: Zone, settings: Settings
) -> None:
    prefix = await enterprise(core)
    many = [{"index": n, "type": "BLOB", "data": "x" * 40_000} for n in range(1, 3)]
    await put(core, f"{prefix}/huge", *many)
    await put(core, f"{prefix}/huge-1", {"index": 1, "type": "BLOB", "data": "x" * 70_000})
    for name in (name_of(f"{prefix}/huge"), name_of(f"{prefix}/huge-1")):  # a message, a record > 64 KiB
        assert (await ask(zone, name)).rcode() == dns.rcode.SERVFAIL
    private = [
        {"index": 1, "type": "NOTE", "data": "x", "permissions": "1100"},
        {
            "index": 100,
            "type": "HS_ADMIN",
            "permissions": "1100",
            "data": {
                "format": "admin",
                "value": {"handle": f"{prefix}/ADMIN", "index": 300, "permissions": "011111111111"},
            },
        },
    ]
    async with open_core(replace(settings, sign_records=False)) as unsigned:  # no public signature
        await put(unsigned, f"{prefix}/hidden", *private)
        hidden = await ask(Zone(unsigned.settings, unsigned.resolver), name_of(f"{prefix}/hidden"))
    assert hidden.rcode() == dns.rcode.NOERROR and not hidden.answer
    assert hidden.authority[0].rdtype == dns.rdatatype.SOA
