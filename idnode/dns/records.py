"""A record's public values as DNS records: one TXT per value, and URI records (RFC 7553) for URLs.

A value's TXT text is ``<index>=<type>=<value>``, an RFC 1464 attribute (``<index>=<type>``) and its
value: in the type, the characters `` ` ``, ``=`` and space are preceded by a backquote, so the first
unquoted ``=`` after the index ends the type. The value is the data as the HTTP API returns it in
``data.value``: the text of string, base64 and hex data, compact JSON for the structured formats
(admin, vlist, site). The text is UTF-8, cut at character boundaries into character-strings of at
most 255 octets, which a reader joins without separators (as for SPF, RFC 7208).

The signature (``HS_SIGNATURE``) is too large for DNS, so it appears by reference, as the text
``HS_SIGNATURE=<index>:<handle>``: the JWS is fetched with ``GET /api/handles/<handle>?index=<index>``.

Every value of type URL (or a subtype ``URL.x``) with non-empty data is also a URI record: priority
the value's index (capped at 65535; a client tries the lowest first), weight 1, target the URL.
A record set's TTL is the smallest TTL of the values in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import orjson
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.ANY.URI import URI

from idnode.model.query import type_matches
from idnode.signing import HS_SIGNATURE

MAX_STRING = 255
MAX_PRIORITY = 65535


def quote_type(value_type: str) -> str:
    """``value_type`` as an RFC 1464 attribute name (backquote before `` ` ``, ``=`` and space)."""
    return "".join("`" + char if char in "`= " else char for char in value_type)


def value_text(value: dict[str, Any], handle: str) -> str:
    """The TXT text of one value of ``handle`` in Handle.Net JSON (see the module docstring)."""
    if value["type"] == HS_SIGNATURE:
        return f"{HS_SIGNATURE}={value['index']}:{handle}"
    data = value["data"]["value"]
    text = data if isinstance(data, str) else orjson.dumps(data).decode("utf-8")
    return f"{value['index']}={quote_type(value['type'])}={text}"


def character_strings(text: str) -> list[bytes]:
    """``text`` in UTF-8, cut into strings of at most 255 octets, never inside a character."""
    encoded, strings = text.encode("utf-8"), []
    while len(encoded) > MAX_STRING:
        cut = MAX_STRING
        while encoded[cut] & 0xC0 == 0x80:  # a continuation octet: cut before its character
            cut -= 1
        strings.append(encoded[:cut])
        encoded = encoded[cut:]
    strings.append(encoded)
    return strings


def txt_rrset(name: dns.name.Name, handle: str, values: Sequence[dict[str, Any]]) -> dns.rrset.RRset:
    """One TXT record per value of ``handle`` (``values`` not empty), owned by ``name``."""
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.TXT)
    for value in values:
        rdata = TXT(dns.rdataclass.IN, dns.rdatatype.TXT, character_strings(value_text(value, handle)))
        rrset.add(rdata, value["ttl"])  # an RRset keeps the smallest TTL added
    return rrset


def uri_rrset(name: dns.name.Name, values: Sequence[dict[str, Any]]) -> dns.rrset.RRset | None:
    """The URI records of the URL values, owned by ``name``; None if there are none."""
    urls = [
        v
        for v in values
        if type_matches("URL", v["type"]) and isinstance(v["data"]["value"], str) and v["data"]["value"]
    ]
    if not urls:
        return None
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.URI)
    for value in urls:
        priority = min(value["index"], MAX_PRIORITY)
        rrset.add(
            URI(dns.rdataclass.IN, dns.rdatatype.URI, priority, 1, value["data"]["value"]), value["ttl"]
        )
    return rrset
