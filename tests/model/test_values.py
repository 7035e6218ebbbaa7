"""Handle values and data formats in the Handle.Net 9 JSON form (idnode/model/values.py)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.model.errors import InvalidValue
from idnode.model.values import (
    DEFAULT_PERMISSIONS,
    DEFAULT_TTL,
    FORMATS,
    MAX_INDEX,
    HandleValue,
    iso_timestamp,
    parse_value_permissions,
)

ADMIN_DATA = {"handle": "0.NA/88.999.1001", "index": 200, "permissions": "011111110011"}


def value(data: Any, *, index: Any = 1, vtype: str = "URL", **extra: Any) -> dict[str, Any]:
    """A client value object."""
    return {"index": index, "type": vtype, "data": data, **extra}


def parse(data: Any, *, index: Any = 1, vtype: str = "URL", **extra: Any) -> HandleValue:
    return HandleValue.from_json(value(data, index=index, vtype=vtype, **extra))


def without_timestamp(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "timestamp"}


# --- formats ------------------------------------------------------------------------------------------


def test_formats_table_is_complete() -> None:
    assert set(FORMATS) == {"string", "base64", "hex", "admin", "vlist", "site", "key"}


def test_string_format() -> None:
    v = parse({"format": "string", "value": "https://example.com/p/1"})
    assert (v.index, v.type, v.format, v.data) == (1, "URL", "string", "https://example.com/p/1")
    assert v.ttl == DEFAULT_TTL == 86400
    assert v.permissions == DEFAULT_PERMISSIONS == "1110"
    assert v.references == []
    assert v.to_json() == {
        "index": 1,
        "type": "URL",
        "data": {"format": "string", "value": "https://example.com/p/1"},
        "ttl": 86400,
        "timestamp": "1970-01-01T00:00:00Z",
    }


def test_bare_string_is_string_shorthand() -> None:
    assert parse("text") == parse({"format": "string", "value": "text"})
    assert parse("").data == ""


def test_missing_format_means_string() -> None:
    assert parse({"value": "x"}).format == "string"


@pytest.mark.parametrize("name", ["STRING", "String", "sTrInG"])
def test_format_names_are_case_insensitive(name: str) -> None:
    v = parse({"format": name, "value": "x"})
    assert v.format == "string"
    assert v.to_json()["data"]["format"] == "string"


def test_format_name_case_insensitive_for_every_format() -> None:
    assert parse({"format": "BASE64", "value": "QQ=="}).format == "base64"
    assert parse({"format": "Hex", "value": "ab"}).format == "hex"
    assert parse({"format": "ADMIN", "value": ADMIN_DATA}, vtype="HS_ADMIN").format == "admin"
    assert parse({"format": "VList", "value": []}, vtype="HS_VLIST").format == "vlist"
    assert parse({"format": "SITE", "value": {}}).format == "site"
    assert parse({"format": "KEY", "value": "k"}).format == "key"


@pytest.mark.parametrize("fmt", ["url", "", "json", "base-64", None, 5, ["string"]])
def test_unknown_format_names_the_value_index(fmt: Any) -> None:
    with pytest.raises(InvalidValue) as info:
        parse({"format": fmt, "value": "x"}, index=7)
    assert info.value.message.startswith("Value 7:")
    assert "unknown data format" in info.value.message
    assert info.value.response_code == 202


@pytest.mark.parametrize("data", [None, 5, ["x"], {"format": "string"}, {}, True])
def test_data_must_be_string_or_object_with_value(data: Any) -> None:
    with pytest.raises(InvalidValue, match=r"^Value 3: 'data' must be"):
        parse(data, index=3)


def test_base64_format_normalises() -> None:
    v = parse({"format": "base64", "value": "aGVsbG8="})
    assert (v.format, v.data) == ("base64", "aGVsbG8=")
    assert parse({"format": "base64", "value": ""}).data == ""
    # Non-zero padding bits decode to the same bytes and are re-encoded canonically.
    assert parse({"format": "base64", "value": "QR=="}).data == "QQ=="


@pytest.mark.parametrize("bad", ["QQ", "a=b=", "!!!!", "aGVsbG8=\n", 42, None, ["QQ=="]])
def test_base64_format_rejects(bad: Any) -> None:
    with pytest.raises(InvalidValue, match=r"^Value 1: "):
        parse({"format": "base64", "value": bad})


def test_base64_format_rejects_non_ascii_with_invalid_value() -> None:
    with pytest.raises(InvalidValue, match=r"^Value 1: "):
        parse({"format": "base64", "value": "é"})


def test_hex_format_normalises_to_lower_case() -> None:
    v = parse({"format": "hex", "value": "DEADbeef00"})
    assert (v.format, v.data) == ("hex", "deadbeef00")
    assert parse({"format": "hex", "value": ""}).data == ""


@pytest.mark.parametrize("bad", ["abc", "0x12", "zz", "12 34", "12\n", 1234, None])
def test_hex_format_rejects(bad: Any) -> None:
    with pytest.raises(InvalidValue, match="hexadecimal byte pairs"):
        parse({"format": "hex", "value": bad})


def test_admin_format() -> None:
    v = parse({"format": "admin", "value": ADMIN_DATA}, index=100, vtype="HS_ADMIN")
    assert v.data == ADMIN_DATA
    assert v.to_json()["data"] == {"format": "admin", "value": ADMIN_DATA}


def test_admin_format_normalises_handle_index_and_permissions() -> None:
    v = parse(
        {"format": "admin", "value": {"handle": "hdl:0.na/88.ABC.1001", "index": "200", "permissions": "11"}},
        index=100,
        vtype="HS_ADMIN",
    )
    assert v.data == {"handle": "0.NA/88.abc.1001", "index": 200, "permissions": "000000000011"}


def test_admin_format_default_permissions() -> None:
    v = parse({"format": "admin", "value": {"handle": "88.999/ADMIN", "index": 300}}, vtype="HS_ADMIN")
    assert v.data["permissions"] == "011111110011"


@pytest.mark.parametrize(
    "bad",
    [
        "0.NA/88.999",
        {"handle": "0.NA/88.999"},
        {"index": 200},
        {"handle": "no-slash", "index": 200},
        {"handle": 5, "index": 200},
        {"handle": "0.NA/88.999", "index": 0},
        {"handle": "0.NA/88.999", "index": "x"},
        {"handle": "0.NA/88.999", "index": True},
        {"handle": "0.NA/88.999", "index": 200, "permissions": "2"},
        {"handle": "0.NA/88.999", "index": 200, "permissions": "1" * 13},
        {"handle": "0.NA/88.999", "index": 200, "permissions": 11},
    ],
)
def test_admin_format_rejects(bad: Any) -> None:
    with pytest.raises(InvalidValue, match=r"^Value 100: "):
        parse({"format": "admin", "value": bad}, index=100, vtype="HS_ADMIN")


def test_vlist_format() -> None:
    refs = [{"handle": "88.999.1001/ADMIN", "index": 300}, {"handle": "88.ABC/Bob", "index": "301"}]
    v = parse({"format": "vlist", "value": refs}, index=200, vtype="HS_VLIST")
    assert v.data == [{"handle": "88.999.1001/ADMIN", "index": 300}, {"handle": "88.abc/Bob", "index": 301}]
    assert parse({"format": "vlist", "value": []}, vtype="HS_VLIST").data == []


@pytest.mark.parametrize("bad", [{"handle": "88.999/a", "index": 1}, "x", [5], [{"handle": "88.999/a"}]])
def test_vlist_format_rejects(bad: Any) -> None:
    with pytest.raises(InvalidValue, match=r"^Value 200: "):
        parse({"format": "vlist", "value": bad}, index=200, vtype="HS_VLIST")


def test_site_and_key_formats_keep_data_as_sent() -> None:
    site = {"version": 1, "servers": [{"address": "127.0.0.1", "port": 2641}]}
    assert parse({"format": "site", "value": site}, vtype="HS_SITE").data == site
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "abc"}
    assert parse({"format": "key", "value": jwk}, vtype="HS_PUBKEY").data == jwk
    assert parse({"format": "key", "value": "MCowBQYDK2VwAyEA"}, vtype="HS_PUBKEY").data == "MCowBQYDK2VwAyEA"


@pytest.mark.parametrize(
    ("fmt", "bad"), [("site", "x"), ("site", []), ("key", 5), ("key", ["k"]), ("key", None)]
)
def test_site_and_key_formats_reject(fmt: str, bad: Any) -> None:
    with pytest.raises(InvalidValue, match=r"^Value 1: "):
        parse({"format": fmt, "value": bad})


@pytest.mark.parametrize("bad", [5, None, ["x"], {"a": 1}])
def test_string_format_rejects_non_strings(bad: Any) -> None:
    with pytest.raises(InvalidValue, match="must be a JSON string"):
        parse({"format": "string", "value": bad})


# --- reserved types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", ["text", {"format": "string", "value": "x"}, {"format": "vlist", "value": []}]
)
def test_hs_admin_must_have_admin_format(data: Any) -> None:
    with pytest.raises(InvalidValue, match="HS_ADMIN data must have format 'admin'"):
        parse(data, index=100, vtype="HS_ADMIN")


def test_admin_format_only_for_hs_admin() -> None:
    with pytest.raises(InvalidValue, match="only for HS_ADMIN"):
        parse({"format": "admin", "value": ADMIN_DATA}, vtype="URL")


def test_hs_vlist_must_have_vlist_format() -> None:
    with pytest.raises(InvalidValue, match="HS_VLIST data must have format 'vlist'"):
        parse("x", vtype="HS_VLIST")


@pytest.mark.parametrize("permissions", ["1111", "1110", "*", "1010"])
def test_hs_seckey_is_never_readable(permissions: str) -> None:
    v = parse("scrypt$...", index=300, vtype="HS_SECKEY", permissions=permissions)
    assert v.permissions[0] == "1" and v.permissions[2] == "1"
    assert not v.public_read
    assert not v.admin_read


def test_read_flags_follow_permission_bits() -> None:
    assert parse("x", permissions="1110").public_read
    assert parse("x", permissions="1110").admin_read
    # Bits from the left: admin read, admin write, public read, public write.
    assert not parse("x", permissions="1101").public_read
    assert parse("x", permissions="1101").admin_read
    assert not parse("x", permissions="0111").admin_read
    assert parse("x", permissions="0111").public_read


# --- index --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "index"),
    [(1, 1), ("100", 100), (MAX_INDEX, MAX_INDEX), (str(MAX_INDEX), MAX_INDEX), (100.0, 100)],
)
def test_index_accepted(raw: Any, index: int) -> None:
    assert parse("x", index=raw).index == index


@pytest.mark.parametrize("raw", [0, -1, "-1", 2**31, "2147483648", 10**30])
def test_index_out_of_range(raw: Any) -> None:
    with pytest.raises(InvalidValue, match="out of range"):
        parse("x", index=raw)


@pytest.mark.parametrize("raw", [True, False, 1.5, "1.5", "abc", "", None, [1], {"i": 1}, float("nan")])
def test_index_must_be_an_integer(raw: Any) -> None:
    with pytest.raises(InvalidValue, match="must be an integer"):
        parse("x", index=raw)


def test_index_is_required() -> None:
    with pytest.raises(InvalidValue, match="missing its 'index'"):
        HandleValue.from_json({"type": "URL", "data": "x"})


def test_infinite_index_is_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        parse("x", index=float("inf"))


# --- type, ttl, permissions, references ---------------------------------------------------------------


@pytest.mark.parametrize("vtype", ["", None, 5, "A" * 256, "URL\n", "a\x00b"])
def test_type_validation(vtype: Any) -> None:
    with pytest.raises(InvalidValue, match=r"^Value 4: 'type'"):
        HandleValue.from_json({"index": 4, "type": vtype, "data": "x"})


def test_free_form_types_accepted() -> None:
    for vtype in ("URL", "EMAIL", "10320/LOC", "产品名称", "A" * 255):
        assert parse("x", vtype=vtype).type == vtype


@pytest.mark.parametrize("ttl", [0, 1, 86400, MAX_INDEX])
def test_ttl_accepted(ttl: int) -> None:
    v = parse("x", ttl=ttl)
    assert v.ttl == ttl
    assert v.to_json()["ttl"] == ttl


@pytest.mark.parametrize("ttl", [-1, MAX_INDEX + 1, True, 1.5, 60.0, "60", None, [60]])
def test_ttl_rejected(ttl: Any) -> None:
    with pytest.raises(InvalidValue, match=r"^Value 1: 'ttl'"):
        parse("x", ttl=ttl)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        (None, "1110"),
        ("*", "1111"),
        ("1111", "1111"),
        ("0000", "0000"),
        ("1010", "1010"),
        # Counted from the right: missing leading bits keep their defaults (admin read, admin write, ...).
        ("1", "1111"),
        ("0", "1110"),
        ("00", "1100"),
        ("01", "1101"),
        ("000", "1000"),
        ("101", "1101"),
    ],
)
def test_value_permissions(raw: Any, normalised: str) -> None:
    assert parse_value_permissions(raw) == normalised
    assert parse("x", **({} if raw is None else {"permissions": raw})).permissions == normalised


@pytest.mark.parametrize("raw", ["", "11111", "2", "**", "1*", "abcd", 1110, True, ["1110"]])
def test_value_permissions_rejected(raw: Any) -> None:
    with pytest.raises(InvalidValue, match="permissions"):
        parse("x", permissions=raw)


def test_references() -> None:
    v = parse("x", references=[{"handle": "88.ABC/x", "index": "2"}])
    assert v.references == [{"handle": "88.abc/x", "index": 2}]
    assert v.to_json()["references"] == [{"handle": "88.abc/x", "index": 2}]


@pytest.mark.parametrize("bad", ["88.999/x", {"handle": "88.999/x", "index": 1}, [{"handle": "bad"}], [5]])
def test_references_rejected(bad: Any) -> None:
    with pytest.raises(InvalidValue, match=r"^Value 1"):
        parse("x", references=bad)


def test_value_must_be_an_object() -> None:
    for bad in (None, [], "x", 1):
        with pytest.raises(InvalidValue, match="must be a JSON object"):
            HandleValue.from_json(bad)


# --- to_json ------------------------------------------------------------------------------------------


def test_to_json_omits_defaults_and_includes_non_defaults() -> None:
    plain = parse("x").to_json()
    assert "permissions" not in plain
    assert "references" not in plain
    rich = parse("x", permissions="1111", references=[{"handle": "88.999/y", "index": 1}]).to_json()
    assert rich["permissions"] == "1111"
    assert rich["references"] == [{"handle": "88.999/y", "index": 1}]


def test_to_json_key_order_matches_handle_net() -> None:
    out = parse("x", permissions="1111", references=[{"handle": "88.999/y", "index": 1}]).to_json()
    assert list(out) == ["index", "type", "data", "permissions", "ttl", "timestamp", "references"]


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
    ],
)
def test_timestamp_is_iso_8601_utc(epoch: int, text: str) -> None:
    assert iso_timestamp(epoch) == text
    assert parse("x").stamped(epoch).to_json()["timestamp"] == text


def test_stamped_and_same_content() -> None:
    v = parse("x")
    stamped = v.stamped(1_700_000_000)
    assert stamped.timestamp == 1_700_000_000
    assert v.timestamp == 0
    assert stamped != v
    assert stamped.same_content(v)
    assert not stamped.same_content(parse("y"))
    assert not v.same_content(parse("x", ttl=5))


def test_from_json_ignores_client_timestamp() -> None:
    assert parse("x", timestamp="2001-01-01T00:00:00Z").timestamp == 0


def test_storage_round_trip() -> None:
    originals = [
        parse("x", permissions="1011", ttl=0, references=[{"handle": "88.999/y", "index": 3}]).stamped(12345),
        parse({"format": "admin", "value": ADMIN_DATA}, index=100, vtype="HS_ADMIN"),
        parse({"format": "vlist", "value": [{"handle": "88.999/a", "index": 1}]}, index=5, vtype="HS_VLIST"),
        parse({"format": "site", "value": {"a": [1, None]}}, vtype="HS_SITE"),
    ]
    for original in originals:
        row = original.to_storage()
        assert isinstance(row, list)
        assert HandleValue.from_storage(row) == original
        assert HandleValue.from_storage(list(row)).timestamp == original.timestamp


# --- properties ---------------------------------------------------------------------------------------

_segment = st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyzABCDEF-_", min_size=1, max_size=8)
handles = st.builds(
    lambda segs, suffix: ".".join(segs) + "/" + suffix,
    st.lists(_segment, min_size=1, max_size=4),
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
        min_size=1,
        max_size=20,
    ),
).filter(lambda h: h.split("/", 1)[0].lower() != "0.na")
indexes = st.integers(min_value=1, max_value=MAX_INDEX)
index_inputs = st.one_of(indexes, indexes.map(str))
refs = st.fixed_dictionaries({"handle": handles, "index": index_inputs})

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

format_cases = st.one_of(
    st.tuples(st.just("URL"), st.just("string"), st.text()),
    st.tuples(
        st.just("DATA"), st.just("base64"), st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
    ),
    st.tuples(st.just("DATA"), st.just("hex"), st.binary(max_size=40).map(lambda b: b.hex().upper())),
    st.tuples(
        st.just("HS_ADMIN"),
        st.just("admin"),
        st.fixed_dictionaries(
            {"handle": handles, "index": index_inputs},
            optional={"permissions": st.text(alphabet="01", min_size=1, max_size=12)},
        ),
    ),
    st.tuples(st.sampled_from(["HS_VLIST", "MEMBERS"]), st.just("vlist"), st.lists(refs, max_size=4)),
    st.tuples(
        st.just("HS_SITE"), st.just("site"), st.dictionaries(st.text(max_size=8), json_values, max_size=4)
    ),
    st.tuples(
        st.just("HS_PUBKEY"),
        st.just("key"),
        st.one_of(st.text(), st.dictionaries(st.text(max_size=8), json_values, max_size=4)),
    ),
)


@st.composite
def valid_value_objects(draw: st.DrawFn) -> dict[str, Any]:
    vtype, fmt, data = draw(format_cases)
    obj: dict[str, Any] = {
        "index": draw(index_inputs),
        "type": vtype,
        "data": {"format": draw(st.sampled_from([fmt, fmt.upper(), fmt.capitalize()])), "value": data},
    }
    if fmt == "string" and draw(st.booleans()):
        obj["data"] = data
    if draw(st.booleans()):
        obj["ttl"] = draw(st.integers(min_value=0, max_value=MAX_INDEX))
    if draw(st.booleans()):
        obj["permissions"] = draw(st.one_of(st.just("*"), st.text(alphabet="01", min_size=1, max_size=4)))
    if draw(st.booleans()):
        obj["references"] = draw(st.lists(refs, max_size=3))
    return obj


@given(obj=valid_value_objects())
def test_to_json_is_a_fixed_point(obj: dict[str, Any]) -> None:
    parsed = HandleValue.from_json(obj)
    out = parsed.to_json()
    again = HandleValue.from_json(out)
    assert again == parsed
    assert without_timestamp(again.to_json()) == without_timestamp(out)
    assert out["index"] == int(obj["index"])
    assert out["data"]["format"] == parsed.format == parsed.format.lower()


@given(obj=valid_value_objects(), timestamp=st.integers(min_value=0, max_value=2**32))
def test_storage_round_trip_property(obj: dict[str, Any], timestamp: int) -> None:
    parsed = HandleValue.from_json(obj).stamped(timestamp)
    assert HandleValue.from_storage(parsed.to_storage()) == parsed


_keys = st.sampled_from(
    ["index", "type", "data", "ttl", "permissions", "references", "format", "value", "handle", "timestamp"]
)
value_like = st.recursive(
    json_scalars
    | st.sampled_from(["HS_ADMIN", "HS_VLIST", "admin", "vlist", "base64", "hex", "1", "0.NA/x"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(_keys, st.text(max_size=6)), children, max_size=6)
    ),
    max_leaves=20,
)


@st.composite
def mutated_value_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A valid value object with one field (top level or inside ``data``) replaced by arbitrary JSON."""
    obj = draw(valid_value_objects())
    replacement = draw(json_values)
    if isinstance(obj["data"], dict) and draw(st.booleans()):
        obj["data"] = {**obj["data"], draw(st.sampled_from(["format", "value"])): replacement}
    else:
        key = draw(st.sampled_from(["index", "type", "data", "ttl", "permissions", "references"]))
        obj[key] = replacement
    return obj


@given(obj=st.one_of(json_values, value_like, valid_value_objects(), mutated_value_objects()))
def test_from_json_raises_only_invalid_value(obj: Any) -> None:
    try:
        parsed = HandleValue.from_json(obj)
    except InvalidValue as exc:
        assert exc.message
        assert exc.response_code == 202
        return
    assert isinstance(parsed, HandleValue)
    assert 1 <= parsed.index <= MAX_INDEX
    assert parsed.format in FORMATS
    assert len(parsed.permissions) == 4


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@given(data=st.one_of(json_values, st.text()))
def test_every_format_raises_only_invalid_value(fmt: str, data: Any) -> None:
    vtype = {"admin": "HS_ADMIN", "vlist": "HS_VLIST"}.get(fmt, "DATA")
    obj = value({"format": fmt, "value": data}, index=9, vtype=vtype)
    try:
        parsed = HandleValue.from_json(obj)
    except InvalidValue as exc:
        assert exc.message.startswith("Value 9: ")
        return
    assert parsed.format == fmt
    assert HandleValue.from_json(parsed.to_json()) == parsed


def test_same_content_compares_every_field_but_the_timestamp() -> None:
    base = HandleValue(index=1, type="URL", format="string", data="https://a.example", timestamp=5)
    assert base.same_content(dataclasses.replace(base, timestamp=99))
    changed = {
        "index": 2,
        "type": "EMAIL",
        "format": "hex",
        "data": "https://b.example",
        "ttl": 60,
        "permissions": "1100",
        "references": [{"handle": "0.NA/88.999", "index": 1}],
    }
    assert set(changed) | {"timestamp"} == {f.name for f in dataclasses.fields(HandleValue)}
    for name, other in changed.items():
        assert not base.same_content(dataclasses.replace(base, **{name: other})), name
