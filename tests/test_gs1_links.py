"""GS1 links (idnode.gs1_links): the GS1_LINK value convention and a record's links."""

from __future__ import annotations

import json
from typing import Any

import pytest

from idnode.gs1_links import DEFAULT_LINK, PIP, Gs1Link, check_values, link_type_iri, parse_link, record_links
from idnode.model.errors import InvalidGs1Key, InvalidValue
from idnode.model.identifier import Identifier
from idnode.model.record import Record
from idnode.model.values import HandleValue

CERT = "https://gs1.org/voc/certificationInfo"


def value(index: int, vtype: str, data: Any, permissions: str | None = None) -> HandleValue:
    text = data if isinstance(data, str) else json.dumps(data)
    body = {
        "index": index,
        "type": vtype,
        "data": text,
        **({"permissions": permissions} if permissions else {}),
    }
    return HandleValue.from_json(body)


def record(*values: HandleValue) -> Record:
    return Record(Identifier.parse("88.999.1001/P-1"), values)


@pytest.mark.parametrize(
    "written",
    [
        "gs1:certificationInfo",
        "https://gs1.org/voc/certificationInfo",
        "http://gs1.org/voc/certificationInfo",
        "https://ref.gs1.org/voc/certificationInfo",
    ],
)
def test_gs1_link_types_in_every_spelling(written: str) -> None:
    assert link_type_iri(written) == CERT


def test_other_link_types() -> None:
    assert link_type_iri("https://schema.org/manual") == "https://schema.org/manual"
    for bad in ("pip", "gs1:", "gs1:pip page", "urn:x:y"):
        with pytest.raises(InvalidValue):
            link_type_iri(bad)


def test_parse_link() -> None:
    text = json.dumps(
        {
            "linkType": "gs1:pip",
            "href": "https://e.example/p",
            "title": "页",
            "hreflang": "zh-CN",
            "type": "text/html",
        }
    )
    assert parse_link(text) == Gs1Link(PIP, "https://e.example/p", "页", ("zh-CN",), "text/html")
    bare = parse_link(json.dumps({"linkType": "gs1:pip", "href": "http://e.example", "title": "t"}))
    assert (bare.hreflang, bare.media_type) == ((), None)
    # An IRI becomes a URI (a Location header is ASCII).
    iri = json.dumps({"linkType": "gs1:pip", "href": "https://e.example/产品?q=米", "title": "t"})
    assert parse_link(iri).href == "https://e.example/%E4%BA%A7%E5%93%81?q=%E7%B1%B3"


def test_link_header_entries() -> None:
    link = Gs1Link(CERT, "https://e.example/c", 'Say "hi"', ("zh", "en"), "text/html")
    params = 'title="Say \\"hi\\""; hreflang="zh"; hreflang="en"; type="text/html"'
    assert link.header() == f'<https://e.example/c>; rel="{CERT}"; {params}'
    # A title that is not ASCII goes in title* (RFC 8187), after the link type's term as title.
    expected = '<https://e.example>; rel="%s"; title="pip"; title*=UTF-8\'\'%%E4%%BA%%A7%%E5%%93%%81'
    assert Gs1Link(PIP, "https://e.example", "产品").header() == expected % PIP


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"href": "https://e.example", "title": "t"}, "needs a linkType"),
        ({"linkType": "gs1:pip", "title": "t"}, "href"),
        ({"linkType": "gs1:pip", "href": "/relative", "title": "t"}, "href"),
        ({"linkType": "gs1:pip", "href": "https://e.example/a b", "title": "t"}, "href"),
        ({"linkType": "gs1:pip", "href": "https://e.example"}, "title"),
        ({"linkType": "gs1:pip", "href": "https://e.example", "title": " "}, "title"),
        (
            {"linkType": "gs1:pip", "href": "https://e.example", "title": "t", "hreflang": ["zh", 3]},
            "hreflang",
        ),
        ({"linkType": "gs1:pip", "href": "https://e.example", "title": "t", "type": "html"}, "media type"),
        ({"linkType": "gs1:pip", "href": "https://e.example", "title": "t", "lang": "en"}, "Unknown"),
        ({"linkType": "gs1:defaultLink", "href": "https://e.example", "title": "t"}, "record's URL"),
    ],
)
def test_bad_links_are_refused(fields: dict[str, Any], complaint: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_link(json.dumps(fields))
    assert complaint in caught.value.message
    with pytest.raises(InvalidValue):
        parse_link("not json")


def test_check_values_names_the_value() -> None:
    good = [value(1, "URL", "https://e.example"), value(4, "GS1", "(01)09506000134352")]
    check_values(good)
    with pytest.raises(InvalidGs1Key) as caught:
        check_values([*good, value(5, "GS1", "(01)09506000134353")])
    assert caught.value.message.startswith("Value 5 (GS1): GTIN 09506000134353 has a wrong check digit")
    with pytest.raises(InvalidValue, match=r"Value 10 \(GS1_LINK\): .*title"):
        check_values([value(10, "GS1_LINK", {"linkType": "gs1:pip", "href": "https://e.example"})])
    hex_value = HandleValue.from_json({"index": 4, "type": "GS1", "data": {"format": "hex", "value": "00"}})
    with pytest.raises(InvalidValue, match="format 'string'"):
        check_values([hex_value])


def test_record_links_default_first_and_public_only() -> None:
    cert = {"linkType": "gs1:certificationInfo", "href": "https://e.example/c", "title": "Cert"}
    links = record_links(
        record(
            value(1, "URL", "https://e.example/p"),
            value(2, "URL", "https://e.example/second"),
            value(10, "GS1_LINK", cert),
            value(11, "GS1_LINK", {**cert, "href": "https://e.example/private"}, permissions="1100"),
        )
    )
    assert links == [
        Gs1Link(DEFAULT_LINK, "https://e.example/p", "Product information page"),
        Gs1Link(PIP, "https://e.example/p", "Product information page"),
        Gs1Link(CERT, "https://e.example/c", "Cert"),
    ]
    # Without a (web) URL value the first GS1_LINK is the default; without links there are none.
    without_url = record_links(record(value(1, "URL", "mailto:a@e.example"), value(10, "GS1_LINK", cert)))
    assert without_url == [
        Gs1Link(DEFAULT_LINK, "https://e.example/c", "Cert"),
        Gs1Link(CERT, "https://e.example/c", "Cert"),
    ]
    assert record_links(record(value(1, "URL", "https://e.example/p", permissions="1100"))) == []
