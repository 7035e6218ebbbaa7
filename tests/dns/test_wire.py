"""Reading queries and putting responses together (idnode/dns/wire.py)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring
import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.dns import wire
from idnode.dns.answers import Answer, render

NAME = "_pump-7.1001.999.88.idnode.test."


def txt_answer(name: str, strings: int) -> Answer:
    qname = dns.name.from_text(name).canonicalize()
    texts = [f'"{n}={"x" * 200}"' for n in range(strings)]
    return render(qname, dns.rdatatype.TXT, answer=[dns.rrset.from_text_list(qname, 60, "IN", "TXT", texts)])


def test_an_ordinary_query_is_read_without_dnspython() -> None:
    query = dns.message.make_query(NAME.upper(), "TXT", use_edns=0, payload=4096, want_dnssec=True)
    query.flags |= dns.flags.CD
    parsed = wire.parse(query.to_wire())
    assert parsed is not None
    assert parsed.id == query.id and parsed.flags == dns.flags.RD | dns.flags.CD
    assert parsed.key == (dns.name.from_text(NAME).to_wire(), dns.rdatatype.TXT, 1)
    assert parsed.payload == 4096 and parsed.dnssec_ok and parsed.udp_limit == wire.EDNS_PAYLOAD
    plain = wire.parse(dns.message.make_query(NAME, "URI").to_wire())
    assert plain is not None and plain.payload == 0 and plain.udp_limit == 512


def test_the_response_echoes_the_question_as_spelled() -> None:
    spelled = "_PuMp-7.1001.999.88.IdNoDe.TeSt."  # DNS 0x20: the client checks its own spelling
    query = dns.message.make_query(spelled, "TXT", use_edns=0, want_dnssec=True)
    parsed = wire.parse(query.to_wire())
    assert parsed is not None
    response = dns.message.from_wire(wire.respond(parsed, txt_answer(NAME, 1), parsed.udp_limit))
    assert response.id == query.id and response.question[0].name.to_text() == spelled
    assert response.flags & dns.flags.QR and response.flags & dns.flags.AA and response.flags & dns.flags.RD
    assert not response.flags & dns.flags.RA
    assert response.edns == 0 and response.payload == wire.EDNS_PAYLOAD and response.ednsflags & dns.flags.DO
    assert response.answer[0].name == dns.name.from_text(NAME) and len(response.answer[0]) == 1
    assert query.is_response(response)


@pytest.mark.parametrize(("edns", "payload", "fits"), [(False, 0, 2), (True, 800, 3), (True, 4096, 5)])
def test_answers_larger_than_the_client_takes_are_truncated(edns: bool, payload: int, fits: int) -> None:
    options = {"use_edns": 0, "payload": payload} if edns else {}
    query = dns.message.make_query(NAME, "TXT", **options)
    parsed = wire.parse(query.to_wire())
    assert parsed is not None
    for strings in (fits, fits + 1):
        response = dns.message.from_wire(wire.respond(parsed, txt_answer(NAME, strings), parsed.udp_limit))
        truncated = strings > fits
        assert bool(response.flags & dns.flags.TC) == truncated
        assert len(response.answer) == (0 if truncated else 1)
        assert response.question[0].name == dns.name.from_text(NAME) and (response.edns == 0) == edns
    big = txt_answer(NAME, 300)  # over TCP the limit is the message size
    assert len(dns.message.from_wire(wire.respond(parsed, big)).answer[0]) == 300


def unusual(message: dns.message.Message | bytes) -> dns.message.Message | wire.Query | None:
    data = message if isinstance(message, bytes) else message.to_wire()
    assert wire.parse(data) is None
    judged = wire.unusual(data)
    return dns.message.from_wire(judged) if isinstance(judged, bytes) else judged


def test_unusual_messages() -> None:
    query = dns.message.make_query(NAME, "TXT")
    query.flags |= dns.flags.QR
    assert unusual(query) is None  # responses are never answered
    assert unusual(b"\x12\x34\x01") is None  # too short to answer
    notify = dns.message.make_query(NAME, "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert unusual(notify).rcode() == dns.rcode.NOTIMP
    future = dns.message.make_query(NAME, "TXT", use_edns=1)
    badvers = unusual(future)
    assert badvers.rcode() == dns.rcode.BADVERS and badvers.edns == 0
    two = dns.message.make_query(NAME, "TXT")
    two.find_rrset(two.question, dns.name.from_text("x.idnode.test."), 1, dns.rdatatype.A, create=True)
    assert unusual(two).rcode() == dns.rcode.FORMERR
    garbage = unusual(query.to_wire()[:2] + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff")
    assert garbage.rcode() == dns.rcode.FORMERR and garbage.id == query.id
    signed = dns.message.make_query(NAME, "TXT")
    signed.use_tsig(dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0"}), keyname="k.")
    assert unusual(signed).rcode() == dns.rcode.NOTAUTH
    # a query carrying more than an OPT record is ordinary after all, once dnspython has read it
    extra = dns.message.make_query(NAME, "TXT", use_edns=0)
    extra.additional.append(dns.rrset.from_text("x.idnode.test.", 60, "IN", "A", "192.0.2.1"))
    judged = unusual(extra)
    assert (
        isinstance(judged, wire.Query)
        and judged.key == wire.parse(dns.message.make_query(NAME, "TXT").to_wire()).key
    )
    assert judged.payload == 1232


@given(st.binary(max_size=600))
def test_no_bytes_break_the_reader(data: bytes) -> None:
    parsed = wire.parse(data)
    judged = wire.unusual(data) if parsed is None else parsed
    if isinstance(judged, bytes):
        assert dns.message.from_wire(judged).flags & dns.flags.QR
