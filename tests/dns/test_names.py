"""Identifiers as DNS names and back (idnode/dns/names.py)."""

from __future__ import annotations

import re

import dns.name
import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.dns.names import decode, encode
from idnode.model.identifier import PREFIX_NAMESPACE, Identifier
from tests.model.test_identifier import prefixes, suffixes

ZONE = dns.name.from_text("idnode.test.")


@pytest.mark.parametrize(
    ("handle", "name"),
    [
        ("88.999.1001/pump-7", "pump-7.1001.999.88"),
        ("88.999.1001/PUMP-2026-000123", "_pump-2026-000123.1001.999.88"),
        ("88.999.1001/2026", "2026.1001.999.88"),
        ("88.999.1001/Lot-7", "_1_jrxxiljx.1001.999.88"),  # mixed case: base32 of the UTF-8
        ("88.999.1001/a_b", "_1_mfpwe.1001.999.88"),
        ("88.999.1001/批次/2026", "_1_42e3tzvmuextembsgy.1001.999.88"),
        ("0.NA/88.999.1001", "_1_ha4c4ojzhexdcmbqge.na.0"),
        ("88.999.1001/" + "a" * 63, "a" * 63 + ".1001.999.88"),
        ("88.999.1001/" + "A" * 62, "_" + "a" * 62 + ".1001.999.88"),
        # too long for the upper form: 101 base32 characters, 60 in the first label
        ("88.999.1001/" + "A" * 63, f"_2_{'ifaucqkb' * 7}ifau.cqkb{'ifaucqkb' * 4}ifauc.1001.999.88"),
    ],
)
def test_names(handle: str, name: str) -> None:
    identifier = Identifier.parse(handle)
    assert ".".join(encode(identifier)) == name
    assert decode(name.split(".")) == identifier


@pytest.mark.parametrize(
    "labels",
    [
        [],
        ["88"],  # no prefix
        ["_2026", "1001", "999", "88"],  # digits only: the lower form, not the upper one
        ["_1_mfrgg", "1001", "999", "88"],  # "abc": the lower form, not base32
        ["_1_mfrgh", "1001", "999", "88"],  # non-zero padding bits
        ["_2_mfrgg", "1001", "999", "88"],  # the second chunk is the prefix's
        ["_1_77", "1001", "999", "88"],  # not UTF-8
        ["_1_aa", "1001", "999", "88"],  # NUL: not a printable suffix
        ["x", "a.b", "88"],  # a dot inside a label is not a prefix separator
        ["x", "a/b", "88"],
        ["_x", "na", "0"],  # the suffix of a prefix handle is a prefix: lower case
    ],
)
def test_names_that_name_no_identifier(labels: list[str]) -> None:
    assert decode(labels) is None


@given(prefixes, suffixes)
def test_every_identifier_has_one_name_that_fits_dns(prefix: str, suffix: str) -> None:
    identifier = Identifier.parse(f"{prefix}/{suffix}")
    labels = encode(identifier)
    assert decode(labels) == identifier
    assert all(len(label) <= 63 and re.fullmatch("[a-z0-9_-]+", label) for label in labels)
    try:
        absolute = dns.name.Name([label.encode() for label in labels]).derelativize(ZONE)
    except dns.name.NameTooLong:
        return  # long suffixes under long prefixes have no name; dnspython says so
    assert decode([label.decode() for label in absolute.relativize(ZONE).labels]) == identifier


@given(prefixes)
def test_prefix_handles_round_trip(prefix: str) -> None:
    handle = Identifier.parse(f"{PREFIX_NAMESPACE}/{prefix}")
    assert decode(encode(handle)) == handle


labels = st.lists(
    st.one_of(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567_-", min_size=1, max_size=63),
        st.builds(lambda n, t: f"_{n}_{t}", st.integers(1, 9), st.text("abcdefghijklmnopqrstuvwxyz234567")),
        st.text(min_size=1, max_size=63),
    ),
    max_size=8,
)


@given(labels)
def test_decode_accepts_only_what_encode_makes(candidate: list[str]) -> None:
    identifier = decode(candidate)
    assert identifier is None or encode(identifier) == tuple(candidate)
