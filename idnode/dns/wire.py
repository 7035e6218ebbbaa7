"""Queries in, responses out: the few header and question fields every query needs, read directly.

``parse`` reads an ordinary query (opcode QUERY, one question, at most an EDNS(0) OPT record besides)
with a few slices, and ``respond`` puts a response together from the query's parts and a rendered
``Answer``: no dnspython message per query, which is what lets the hit path answer tens of thousands
of queries a second. Anything else goes to ``unusual``, which judges it with dnspython: an ordinary
query after all, an error response (FORMERR, NOTIMP, BADVERS, NOTAUTH), or nothing (responses and
runt packets are dropped).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode

from idnode.dns.answers import MAX_MESSAGE, Answer

EDNS_PAYLOAD = 1232  # the UDP size we offer and accept at most (DNS flag day 2020)
CLASSIC_UDP = 512
_HEADER = struct.Struct(">HHHHHH")
_ECHOED = dns.flags.RD | dns.flags.CD  # query bits a response copies
_OPCODE = 0x7800  # the OPCODE bits of the flags word


class Query(NamedTuple):
    """What a response echoes (ID, RD and CD, the question as sent, EDNS) and what it answers:
    ``key`` is the question with its name in lower case (QNAME wire format, QTYPE, QCLASS)."""

    id: int
    flags: int
    question: bytes
    key: tuple[bytes, int, int]
    payload: int  # the client's EDNS UDP payload size; 0 without EDNS
    dnssec_ok: bool

    @property
    def udp_limit(self) -> int:
        """The largest UDP response this client takes (RFC 6891: at least 512, at most what we offer)."""
        return max(CLASSIC_UDP, min(self.payload, EDNS_PAYLOAD)) if self.payload else CLASSIC_UDP


def parse(data: bytes) -> Query | None:
    """The ordinary query in ``data``, or None for anything else (see ``unusual``)."""
    if len(data) < 17:
        return None
    query_id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if flags & (dns.flags.QR | _OPCODE) or qdcount != 1 or ancount or nscount or arcount > 1:
        return None
    end = 12
    while data[end]:  # QNAME: labels up to the root, no compression in a question
        if data[end] > 63:
            return None
        end += data[end] + 1
        if end - 12 > 254 or end >= len(data):
            return None
    qend = end + 5
    if qend > len(data):
        return None
    qtype, qclass = struct.unpack_from(">HH", data, qend - 4)
    end, payload, dnssec_ok = qend, 0, False
    if arcount:  # one OPT record: root owner, TYPE 41, CLASS = payload, TTL = rcode/version/flags
        if len(data) < end + 11 or data[end] or data[end + 1 : end + 3] != b"\x00\x29":
            return None
        payload, _, version, edns_flags, rdlength = struct.unpack_from(">HBBHH", data, end + 3)
        end += 11 + rdlength  # options (cookies, padding, client subnet) are ignored
        if version:
            return None
        dnssec_ok, payload = bool(edns_flags & dns.flags.DO), max(payload, 1)
    if end != len(data):
        return None
    question = data[12:qend]
    return Query(
        query_id, flags & _ECHOED, question, (question[:-4].lower(), qtype, qclass), payload, dnssec_ok
    )


def respond(query: Query, answer: Answer, limit: int = MAX_MESSAGE) -> bytes:
    """The response to ``query``; if it is longer than ``limit``, a truncated one (TC, no records)."""
    flags = dns.flags.QR | answer.flags | query.flags
    opt = _opt(query) if query.payload else b""
    extra = 1 if opt else 0
    message = (
        _HEADER.pack(query.id, flags, 1, answer.answers, answer.authorities, extra)
        + query.question
        + answer.sections
        + opt
    )
    if len(message) <= limit:
        return message
    return _HEADER.pack(query.id, flags | dns.flags.TC, 1, 0, 0, extra) + query.question + opt


def _opt(query: Query) -> bytes:
    return b"\x00\x00\x29" + struct.pack(
        ">HBBHH", EDNS_PAYLOAD, 0, 0, dns.flags.DO if query.dnssec_ok else 0, 0
    )


def unusual(data: bytes) -> Query | bytes | None:
    """Judge a message ``parse`` declined: the ordinary query it is after all, an error response to
    send, or None to drop it."""
    try:
        message = dns.message.from_wire(data)
    except dns.message.ShortHeader:
        return None
    except dns.message.UnknownTSIGKey:  # signed with a key we do not have (RFC 8945: NOTAUTH)
        return _bare_error(data, dns.rcode.NOTAUTH)
    except (dns.exception.DNSException, ValueError, IndexError, struct.error):
        return _bare_error(data, dns.rcode.FORMERR)
    if message.flags & dns.flags.QR:
        return None
    if message.opcode() != dns.opcode.QUERY:
        return _error(message, dns.rcode.NOTIMP)
    if message.edns > 0:
        return _error(message, dns.rcode.BADVERS)
    if len(message.question) != 1:
        return _error(message, dns.rcode.FORMERR)
    rrset = message.question[0]
    name = rrset.name.to_wire()
    question = name + struct.pack(">HH", rrset.rdtype, rrset.rdclass)
    payload = max(message.payload, 1) if message.edns == 0 else 0
    dnssec_ok = bool(message.ednsflags & dns.flags.DO)
    key = (name.lower(), int(rrset.rdtype), int(rrset.rdclass))
    return Query(message.id, message.flags & _ECHOED, question, key, payload, dnssec_ok)


def _error(query: dns.message.Message, rcode: dns.rcode.Rcode) -> bytes:
    response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
    response.set_rcode(rcode)
    return response.to_wire()


def _bare_error(data: bytes, rcode: dns.rcode.Rcode) -> bytes | None:
    """A header-only error response to a message whose header is all that can be read (None for a
    message that is itself a response: never answer those)."""
    query_id, flags = struct.unpack_from(">HH", data)
    if flags & dns.flags.QR:
        return None
    return _HEADER.pack(query_id, dns.flags.QR | (flags & (_OPCODE | _ECHOED)) | rcode, 0, 0, 0, 0)
