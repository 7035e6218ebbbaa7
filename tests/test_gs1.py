"""GS1 keys (idnode.gs1): Digital Link URIs and element strings, with real GTINs and broken ones."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum import ean

from idnode import gs1
from idnode.gs1 import Gs1Key
from idnode.model.errors import InvalidGs1Key, InvalidValue

REAL_GTINS = {
    "09506000134352": "09506000134352",  # GTIN-14 (GS1's own example)
    "4006381333931": "04006381333931",  # EAN-13
    "036000291452": "00036000291452",  # UPC-A (GTIN-12)
    "96385074": "00000096385074",  # EAN-8 (GTIN-8)
}


def refused(text: str) -> str:
    with pytest.raises(InvalidGs1Key) as caught:
        gs1.parse(text)
    assert isinstance(caught.value, InvalidValue)  # responseCode 202 at registration
    return caught.value.message


@pytest.mark.parametrize(("written", "gtin"), REAL_GTINS.items())
def test_real_gtins_are_padded_to_14_digits(written: str, gtin: str) -> None:
    assert gs1.parse(f"https://id.gs1.org/01/{written}") == Gs1Key(gtin)
    assert gs1.parse(f"/01/{written}/").path == f"/01/{gtin}"  # a trailing slash is tolerated


@pytest.mark.parametrize("written", REAL_GTINS)
def test_wrong_check_digits_are_refused_with_the_right_one(written: str) -> None:
    wrong = written[:-1] + str((int(written[-1]) + 1) % 10)
    assert refused(f"/01/{wrong}") == f"GTIN {wrong} has a wrong check digit: it should end in {written[-1]}."
    assert "check digit" in refused(f"(01){wrong.zfill(14)}")


def test_element_strings_bracketed_and_unbracketed() -> None:
    key = Gs1Key("09506000134352", lot="ABC", serial="123", expiry="271231")
    assert gs1.parse("(01)09506000134352(17)271231(10)ABC(21)123") == key
    assert gs1.parse("(01)09506000134352(21)123(10)ABC(17)271231") == key  # any AI order
    # Unbracketed: GS (FNC1) ends a variable-length field; a symbology identifier may lead.
    assert gs1.parse("]d2010950600013435217271231" + "10ABC\x1d21123") == key
    assert gs1.parse("\x1d0109506000134352" + "10ABC\x1d" + "17271231" + "21123") == key
    assert gs1.parse("0109506000134352" + "22V1\x1d") == Gs1Key("09506000134352", cpv="V1")
    assert key.expiry_date == date(2027, 12, 31)
    assert gs1.parse("(01)09506000134352(10)a://b").lot == "a://b"  # not taken for a URI


def test_element_string_errors() -> None:
    assert "(11) is not supported" in refused("(01)09506000134352(11)250101")
    assert "appears more than once" in refused("(01)09506000134352(10)A(10)B")
    assert "no GTIN" in refused("(10)ABC(21)1")
    assert "14 digits" in refused("(01)9506000134352")  # an element string has all 14
    assert "Unsupported application identifier" in refused("010950600013435211250101")
    assert "alone is not a GS1 key" in refused("09506000134352")
    assert "starts with" in refused("(01")


def test_digital_link_uris() -> None:
    uri = "https://brand.example/products/01/09506000134352/22/V2/10/AB%2F1/21/%21x?17=280229&utm=qr;a=b"
    key = gs1.parse(uri)
    assert key == Gs1Key("09506000134352", cpv="V2", lot="AB/1", serial="!x", expiry="280229")
    assert key.expiry_date == date(2028, 2, 29)
    assert key.path == "/01/09506000134352/22/V2/10/AB%2F1/21/%21x"
    assert gs1.parse("/01/09506000134352?17=270200").expiry_date == date(2027, 2, 28)  # day 00: month end
    assert "http or https" in refused("ftp://id.example/01/09506000134352")


def test_digital_link_path_errors() -> None:
    gtin = "09506000134352"
    assert "order" in refused(f"/01/{gtin}/21/S/10/L")
    assert "order" in refused(f"/01/{gtin}/10/L/10/M")
    assert "query string" in refused(f"/01/{gtin}/17/271231")
    assert "not a key qualifier" in refused(f"/01/{gtin}/99/X")
    assert "without a value" in refused(f"/01/{gtin}/10")
    assert "No GTIN" in refused("/gtin/09506000134352")
    assert "percent-encoded UTF-8" in refused(f"/01/{gtin}/10/%FF")
    assert "more than once" in refused(f"/01/{gtin}?17=270101&17=270102")


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("L" * 21, "1 to 20 characters"),
        ("批次", "character set 82"),
        ("A B", "character set 82"),
        ("A~B", "character set 82"),
    ],
)
def test_qualifier_values_are_checked(value: str, complaint: str) -> None:
    assert complaint in refused(f"(01)09506000134352(10){value}")
    assert complaint in refused(f"/01/09506000134352/21/{value}")


@pytest.mark.parametrize(
    ("yymmdd", "complaint"),
    [("271301", "no month 13"), ("250229", "has 28 days"), ("270431", "has 30 days"), ("2712", "six digits")],
)
def test_expiry_dates_are_checked(yymmdd: str, complaint: str) -> None:
    assert complaint in refused(f"(01)09506000134352(17){yymmdd}")
    assert complaint in refused(f"/01/09506000134352?17={yymmdd}")


def test_expiry_century_follows_the_gs1_sliding_window() -> None:
    today = date(2026, 6, 1)
    assert gs1._date("750101", today) == date(2075, 1, 1)  # up to 49 years ahead
    assert gs1._date("770101", today) == date(1977, 1, 1)  # 51 or more ahead: the previous century
    assert gs1._date("990100", date(2098, 1, 1)) == date(2099, 1, 31)
    assert gs1._date("050101", date(2098, 1, 1)) == date(2105, 1, 1)  # 93 years back: the next century


def test_lookup_paths_fall_back_from_serial_to_lot_to_variant_to_gtin() -> None:
    key = Gs1Key("09506000134352", cpv="V", lot="L", serial="S")
    assert [p.removeprefix("/01/09506000134352") for p in key.lookup_paths()] == [
        "/22/V/10/L/21/S",
        "/10/L/21/S",
        "/22/V/21/S",
        "/21/S",
        "/22/V/10/L",
        "/10/L",
        "/22/V",
        "",
    ]
    assert Gs1Key("09506000134352").lookup_paths() == ["/01/09506000134352"]


CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
qualifier = st.none() | st.text(alphabet=CSET82, min_size=1, max_size=20)


@st.composite
def keys(draw: st.DrawFn) -> Gs1Key:
    body = draw(st.text(alphabet="0123456789", min_size=13, max_size=13))
    expiry = draw(
        st.none() | st.dates(date(1980, 1, 1), date(2070, 12, 31)).map(lambda d: d.strftime("%y%m%d"))
    )
    if expiry is not None and draw(st.booleans()):
        expiry = expiry[:4] + "00"
    return Gs1Key(
        body + ean.calc_check_digit(body), draw(qualifier), draw(qualifier), draw(qualifier), expiry
    )


@given(keys())
def test_a_key_survives_its_canonical_uri(key: Gs1Key) -> None:
    assert gs1.parse(key.uri("https://id.example.com/")) == key


@given(keys())
def test_a_key_survives_its_element_strings(key: Gs1Key) -> None:
    assume(all("(" not in value for _, value in key.qualifiers))  # brackets would read as an AI
    assert gs1.parse(key.element_string()) == key
    fields = [("01", key.gtin), ("17", key.expiry), *key.qualifiers]
    unbracketed = "]d2" + "\x1d".join(ai + value for ai, value in fields if value is not None)
    assert gs1.parse(unbracketed) == key
