"""Reading import files (idnode.importfile): encodings, CSV and JSON Lines rows and their numbers."""

from __future__ import annotations

import io

import pytest

from idnode.importfile import ImportFile, Row, detect_encoding
from idnode.model.errors import ProtocolError

PRODUCTS = (
    "标识后缀,网址,GS1,型号,备注\n"
    "PUMP-001,https://example.com/p/1,(01)09506000134352(21)1,离心泵 IS80,\n"
    'PUMP-002, https://example.com/p/2 ,,管道泵,"含逗号,的备注"\n'
)


def rows_of(data: bytes, fmt: str = "csv") -> list[Row]:
    return list(ImportFile.open(io.BytesIO(data), fmt).read())


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (PRODUCTS.encode(), "utf-8-sig"),
        (b"\xef\xbb\xbf" + PRODUCTS.encode(), "utf-8-sig"),
        (PRODUCTS.encode("gbk"), "gb18030"),
    ],
    ids=["utf-8", "utf-8 with BOM", "gbk"],
)
def test_csv_in_utf8_with_or_without_bom_or_gbk_reads_the_same(encoded: bytes, encoding: str) -> None:
    assert detect_encoding(io.BytesIO(encoded)) == encoding
    source = ImportFile.open(io.BytesIO(encoded), "csv")
    assert (source.encoding, source.rows) == (encoding, 2)
    assert list(source.read()) == [
        Row(
            2,
            {
                "suffix": "PUMP-001",
                "url": "https://example.com/p/1",
                "gs1": "(01)09506000134352(21)1",
                "metadata": {"型号": "离心泵 IS80"},
            },
        ),
        Row(
            3,
            {
                "suffix": "PUMP-002",
                "url": "https://example.com/p/2",
                "metadata": {"型号": "管道泵", "备注": "含逗号,的备注"},
            },
        ),
    ]


def test_the_whole_file_decides_the_encoding() -> None:
    padding = "suffix,note\n" + "x,ascii only\n" * 10_000  # Chinese text only far beyond the first chunk
    assert len(padding) > 100_000
    late_gbk = (padding + "y,离心泵\n").encode("gbk")
    assert detect_encoding(io.BytesIO(late_gbk)) == "gb18030"
    assert rows_of(late_gbk)[-1] == Row(10_002, {"suffix": "y", "metadata": {"note": "离心泵"}})
    straddling = ("suffix,note\n" + "x" * (65_536 - 14) + ",泵\n").encode()  # 泵 crosses the chunk edge
    assert detect_encoding(io.BytesIO(straddling)) == "utf-8-sig"
    with pytest.raises(ProtocolError, match=r"offset 9 is not UTF-8; the byte at offset \d+ is not GB18030"):
        ImportFile.open(io.BytesIO(b"suffix\nab\xff\xfe\x80\x80\n"), "csv")


def test_csv_rows_are_numbered_as_a_spreadsheet_shows_them() -> None:
    text = 'Suffix ,URL\n\na,https://a\n"b"," x,\ny "\n , \nc,https://c,extra\nd\n'
    rows = rows_of(text.encode())
    assert [r.number for r in rows] == [3, 4, 6, 7]  # blank rows 2 and 5 skipped, row 4 spans two lines
    assert rows[1].fields == {"suffix": "b", "url": "x,\ny"}  # cells are trimmed
    assert rows[2].error is not None and rows[2].error.message == "Row 6 has 3 cells; the header names 2."
    assert rows[3].fields == {"suffix": "d"}


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("", "The CSV file is empty"),
        ("url,型号\nx,y\n", "needs a 'suffix' column"),
        ("suffix,handle\nx,y\n", "needs a 'suffix' column"),
        ("后缀,Suffix\nx,y\n", "Columns 1 and 2 both name 'suffix'"),
        ("suffix,,note\nx,,y\n", "Column 2 of the header has no name"),
        ('suffix,note\nx,y\nz,"a"b\n', "Malformed CSV in row 3"),
    ],
)
def test_unusable_csv_files_are_refused_before_any_row(csv_text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        ImportFile.open(io.BytesIO(csv_text.encode()), "csv")


def test_json_lines_rows() -> None:
    lines = [
        '{"suffix": "a", "url": "https://a", "metadata": {"n": 1}, "colour": "红", "gs1": null}',
        "",
        '{"handle": "88.999.1001/b", "values": [{"index": 1, "type": "URL", "data": "https://b"}]}',
        "[1, 2]",
        "{not json",
        '{"suffix": "c", "metadata": {"n": 1}, "n": 2}',
        '{"suffix": "d", "metadata": "n=1"}',
    ]
    rows = rows_of("\n".join(lines).encode("gbk"), "jsonl")
    assert [r.number for r in rows] == [1, 3, 4, 5, 6, 7]
    assert rows[0].fields == {"suffix": "a", "url": "https://a", "metadata": {"n": 1, "colour": "红"}}
    assert rows[1].fields["values"][0]["data"] == "https://b"
    messages = [r.error.message if r.error else "" for r in rows[2:]]
    assert messages[0] == "Line 4 is not a JSON object."
    assert messages[1].startswith("Line 5 is not valid JSON: ") and messages[1].endswith(" at column 2.")
    assert messages[2:] == [
        "Field(s) ['n'] given both in 'metadata' and beside it.",
        "'metadata' must be a JSON object.",
    ]
