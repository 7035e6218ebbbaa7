"""Answers rendered once and sent to every asker of the same question.

An ``Answer`` is what a response holds apart from the query's own parts (ID, RD and CD bits, the
question as the client spelled it, EDNS): the AA bit, the RCODE, and the answer and authority
sections in wire format. dnspython renders them behind a lower-case copy of the question; their
compressed names point into the question, which has the same layout in every spelling of the name,
so the sections fit behind any query for it (and DNS 0x20 case randomisation keeps working).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rrset

MAX_MESSAGE = 65535


@dataclass(frozen=True, slots=True)
class Answer:
    """The header bits (AA, RCODE) and record counts of a response, and its sections after the
    question."""

    flags: int
    answers: int
    authorities: int
    sections: bytes


def render(
    qname: dns.name.Name,
    qtype: int,
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR,
    answer: Iterable[dns.rrset.RRset] = (),
    authority: Iterable[dns.rrset.RRset] = (),
    authoritative: bool = True,
) -> Answer:
    """The answer to ``qname``/``qtype`` (``qname`` in lower case) holding these record sets;
    SERVFAIL if they do not fit in a DNS message."""
    message = dns.message.Message(id=0)
    message.flags = dns.flags.QR | (dns.flags.AA if authoritative else 0)
    message.set_rcode(rcode)
    message.find_rrset(message.question, qname, dns.rdataclass.IN, qtype, create=True)
    message.answer, message.authority = list(answer), list(authority)
    try:
        wire = message.to_wire(max_size=MAX_MESSAGE)
    except (dns.exception.TooBig, dns.exception.FormError):  # a message, or one record, over 64 KiB
        return render(qname, qtype, dns.rcode.SERVFAIL, authoritative=authoritative)
    question_end = 12 + len(qname.to_wire()) + 4
    return Answer(
        int.from_bytes(wire[2:4]) & (dns.flags.AA | 0xF),
        int.from_bytes(wire[6:8]),
        int.from_bytes(wire[8:10]),
        wire[question_end:],
    )
