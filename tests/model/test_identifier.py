"""Identifier parsing and normalisation (idnode/model/identifier.py)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from idnode.model.errors import IdnodeError, InvalidHandle
from idnode.model.identifier import (
    MAX_PREFIX_LENGTH,
    MAX_SUFFIX_BYTES,
    PREFIX_NAMESPACE,
    Identifier,
    admin_handle,
    canonical_prefix,
    check_suffix,
    is_within,
    parent_prefixes,
    prefix_handle,
)

FORBIDDEN_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")

# --- strategies ---------------------------------------------------------------------------------------

_segment = st.text(
    alphabet="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_", min_size=1, max_size=12
)


def _join_segments(segments: list[str]) -> str:
    return ".".join(segments)


prefixes = (
    st.lists(_segment, min_size=1, max_size=6)
    .map(_join_segments)
    .filter(lambda p: len(p) <= MAX_PREFIX_LENGTH and p.lower() != PREFIX_NAMESPACE.lower())
)

printable_chars = st.characters(exclude_categories=FORBIDDEN_CATEGORIES)
suffixes = st.text(alphabet=printable_chars, min_size=1, max_size=80).filter(
    lambda s: len(s.encode("utf-8")) <= MAX_SUFFIX_BYTES
)

# Text likely to parse (scheme, prefix, slash, suffix) mixed with arbitrary text, so both the accepting
# and the rejecting paths are exercised.
handle_shaped = st.builds(
    lambda scheme, p, s: f"{scheme}{p}/{s}",
    st.sampled_from(["", "hdl:", "HDL:", "Hdl:"]),
    st.one_of(prefixes, st.just("0.na"), st.text(max_size=10)),
    st.one_of(suffixes, prefixes, st.text()),
)
handle_like = st.one_of(st.text(), handle_shaped)


# --- canonical prefix ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("88.999.1001", "88.999.1001"),
        ("88.ABC.x-Y_z", "88.abc.x-y_z"),
        ("0.NA", "0.NA"),
        ("0.na", "0.NA"),
        ("0.Na", "0.NA"),
        ("a", "a"),
        ("A" * MAX_PREFIX_LENGTH, "a" * MAX_PREFIX_LENGTH),
    ],
)
def test_canonical_prefix(raw: str, canonical: str) -> None:
    assert canonical_prefix(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "",
        ".",
        "88.",
        ".88",
        "88..999",
        "88 999",
        "88/999",
        "88.99\u00e9",
        "88:1",
        "x" * (MAX_PREFIX_LENGTH + 1),
    ],
)
def test_canonical_prefix_rejects(raw: str) -> None:
    with pytest.raises(InvalidHandle):
        canonical_prefix(raw)


def test_prefix_length_limit_is_exactly_64() -> None:
    ok = "1." * 31 + "12"  # 64 characters
    assert len(ok) == MAX_PREFIX_LENGTH == 64
    assert canonical_prefix(ok) == ok
    with pytest.raises(InvalidHandle, match="longer than 64"):
        canonical_prefix(ok + "3")


# --- parse: accepted forms ----------------------------------------------------------------------------


def test_parse_simple() -> None:
    ident = Identifier.parse("88.999.1001/abc")
    assert ident == Identifier("88.999.1001", "abc")
    assert str(ident) == "88.999.1001/abc"
    assert not ident.is_prefix_handle
    assert ident.owning_prefix == "88.999.1001"


def test_prefix_is_case_insensitive_suffix_is_not() -> None:
    upper = Identifier.parse("88.ABC.1001/Serial-XY")
    lower = Identifier.parse("88.abc.1001/Serial-XY")
    assert upper == lower
    assert upper.prefix == "88.abc.1001"
    assert upper.suffix == "Serial-XY"
    assert Identifier.parse("88.abc/Serial") != Identifier.parse("88.abc/serial")


@pytest.mark.parametrize("scheme", ["hdl:", "HDL:", "Hdl:"])
def test_hdl_scheme_is_dropped(scheme: str) -> None:
    assert Identifier.parse(f"{scheme}88.999/x") == Identifier("88.999", "x")


def test_only_one_scheme_is_dropped() -> None:
    with pytest.raises(InvalidHandle):
        Identifier.parse("hdl:hdl:88.999/x")


def test_suffix_may_contain_slashes() -> None:
    ident = Identifier.parse("88.999.1001/a/b//c/")
    assert ident.prefix == "88.999.1001"
    assert ident.suffix == "a/b//c/"
    assert str(ident) == "88.999.1001/a/b//c/"


def test_suffix_allows_spaces_and_chinese() -> None:
    ident = Identifier.parse("88.999/泵 型号 A-1")
    assert ident.suffix == "泵 型号 A-1"


@pytest.mark.parametrize(
    "text", ["0.NA/88.999.1001", "0.na/88.999.1001", "0.NA/88.ABC.1001", "hdl:0.Na/88.Abc"]
)
def test_prefix_handle_suffix_is_canonicalised_as_a_prefix(text: str) -> None:
    ident = Identifier.parse(text)
    assert ident.prefix == "0.NA"
    assert ident.suffix == ident.suffix.lower()
    assert ident.is_prefix_handle
    assert ident.owning_prefix == ident.suffix
    assert str(ident) == f"0.NA/{ident.suffix}"


@pytest.mark.parametrize("text", ["0.NA/not a prefix", "0.NA/88.999/x", "0.NA/88..9"])
def test_prefix_handle_suffix_must_be_a_prefix(text: str) -> None:
    with pytest.raises(InvalidHandle):
        Identifier.parse(text)


def test_prefix_handle_and_admin_handle_helpers() -> None:
    assert prefix_handle("88.ABC.1001") == Identifier("0.NA", "88.abc.1001")
    assert str(prefix_handle("88.999.1001")) == "0.NA/88.999.1001"
    assert admin_handle("88.ABC.1001") == Identifier("88.abc.1001", "ADMIN")
    assert str(admin_handle("88.999.1001")) == "88.999.1001/ADMIN"
    with pytest.raises(InvalidHandle):
        prefix_handle("bad prefix")
    with pytest.raises(InvalidHandle):
        admin_handle("")


def test_identifier_is_hashable_and_frozen() -> None:
    ident = Identifier.parse("88.999/x")
    assert {ident, Identifier.parse("88.999/x")} == {ident}
    with pytest.raises(AttributeError):
        ident.suffix = "y"  # type: ignore[misc]


# --- parse: rejected forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "88.999", "88.999.1001", "hdl:88.999", "/abc", "hdl:/abc", "88.999/", "hdl:88.999/", "/", "a b/c"],
)
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(InvalidHandle) as info:
        Identifier.parse(text)
    assert info.value.response_code == 102


@pytest.mark.parametrize("value", [None, 42, b"88.999/x", ["88.999/x"]])
def test_parse_rejects_non_strings(value: object) -> None:
    with pytest.raises(InvalidHandle, match="must be a string"):
        Identifier.parse(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "char",
    [
        "\x00",  # Cc
        "\n",  # Cc
        "\t",  # Cc
        "\x7f",  # Cc
        "\x85",  # Cc (NEL)
        "\u200b",  # Cf zero width space
        "\u200e",  # Cf left-to-right mark
        "\ufeff",  # Cf byte order mark
        "\ud800",  # Cs lone surrogate
        "\ue000",  # Co private use
        "\U000f0000",  # Co supplementary private use
        "\u0378",  # Cn unassigned
        "\u2028",  # Zl
        "\u2029",  # Zp
    ],
)
def test_suffix_rejects_non_printable(char: str) -> None:
    assert unicodedata.category(char) in FORBIDDEN_CATEGORIES
    with pytest.raises(InvalidHandle, match=f"U\\+{ord(char):04X} at position 1"):
        Identifier.parse(f"88.999/a{char}b")


@pytest.mark.parametrize("char", [" ", "\u3000", "\u00a0", "é", "中", "😀", "/", "%", "\\"])
def test_suffix_accepts_printable_and_space_separators(char: str) -> None:
    assert Identifier.parse(f"88.999/a{char}b").suffix == f"a{char}b"


def test_suffix_limit_counts_utf8_bytes_not_characters() -> None:
    ascii_max = "a" * MAX_SUFFIX_BYTES
    assert check_suffix(ascii_max) == ascii_max
    with pytest.raises(InvalidHandle, match="255 bytes"):
        check_suffix(ascii_max + "b")

    chinese_max = "中" * 85  # 3 bytes each: exactly 255 bytes, only 85 characters
    assert len(chinese_max.encode("utf-8")) == MAX_SUFFIX_BYTES
    assert Identifier.parse(f"88.999/{chinese_max}").suffix == chinese_max
    for too_long in (chinese_max + "a", "中" * 86, "a" + chinese_max):
        assert len(too_long) < MAX_SUFFIX_BYTES  # short in characters, too long in bytes
        with pytest.raises(InvalidHandle, match="255 bytes"):
            Identifier.parse(f"88.999/{too_long}")


def test_suffix_limit_with_four_byte_characters() -> None:
    emoji = "😀" * 63 + "abc"  # 252 + 3 = 255 bytes
    assert len(emoji.encode("utf-8")) == MAX_SUFFIX_BYTES
    assert check_suffix(emoji) == emoji
    with pytest.raises(InvalidHandle):
        check_suffix("😀" * 64)  # 256 bytes in 64 characters


def test_empty_suffix_message() -> None:
    with pytest.raises(InvalidHandle, match="suffix is empty"):
        check_suffix("")


# --- properties ---------------------------------------------------------------------------------------


@given(prefix=prefixes, suffix=suffixes)
def test_printable_suffix_round_trips(prefix: str, suffix: str) -> None:
    ident = Identifier.parse(f"{prefix}/{suffix}")
    assert str(ident) == f"{canonical_prefix(prefix)}/{suffix}"
    assert ident.suffix == suffix
    assert ident.prefix == prefix.lower()


@given(prefix=prefixes, suffix=suffixes)
def test_hdl_scheme_does_not_change_the_result(prefix: str, suffix: str) -> None:
    assert Identifier.parse(f"hdl:{prefix}/{suffix}") == Identifier.parse(f"{prefix}/{suffix}")


@given(text=handle_like)
def test_parse_raises_only_invalid_handle(text: str) -> None:
    try:
        ident = Identifier.parse(text)
    except InvalidHandle as exc:
        assert isinstance(exc, IdnodeError)
        assert exc.message
        return
    assert isinstance(ident, Identifier)
    assert ident.prefix and ident.suffix


def _parse_or_none(text: str) -> Identifier | None:
    try:
        return Identifier.parse(text)
    except InvalidHandle:
        return None


@given(text=handle_shaped)  # mostly parseable, so the property is checked on many real handles
def test_parse_is_idempotent(text: str) -> None:
    ident = _parse_or_none(text)
    assume(ident is not None)
    assert ident is not None
    again = Identifier.parse(str(ident))
    assert again == ident
    assert str(again) == str(ident)


@given(prefix=prefixes)
def test_canonical_prefix_is_idempotent_and_case_blind(prefix: str) -> None:
    canonical = canonical_prefix(prefix)
    assert canonical_prefix(canonical) == canonical
    assert canonical_prefix(prefix.upper()) == canonical
    assert canonical_prefix(prefix.swapcase()) == canonical


@given(text=st.one_of(st.text(max_size=80), prefixes, prefixes.map(str.upper)))
def test_canonical_prefix_raises_only_invalid_handle(text: str) -> None:
    try:
        canonical = canonical_prefix(text)
    except InvalidHandle as exc:
        assert exc.message
        return
    assert canonical_prefix(canonical) == canonical
    assert canonical.lower() == text.lower()


@given(text=st.text(max_size=300))
def test_check_suffix_raises_only_invalid_handle_and_never_changes_a_suffix(text: str) -> None:
    try:
        assert check_suffix(text) == text
    except InvalidHandle as exc:
        assert exc.message


@given(prefix=prefixes)
def test_every_parent_prefix_contains_the_prefix(prefix: str) -> None:
    canonical = canonical_prefix(prefix)
    parents = parent_prefixes(canonical)
    assert parents[0] == canonical
    assert len(parents) == canonical.count(".") + 1
    for parent in parents:
        assert canonical_prefix(parent) == parent
        assert is_within(canonical, parent)
    assert not is_within(canonical, canonical + "0")  # a longer sibling is not a parent
