"""Business-licence files (idnode.licences): type by magic bytes, size limit, generated names."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from idnode.licences import LicenceStore
from idnode.model.application import Licence
from idnode.model.errors import LicenceTooLarge, UnsupportedLicenceType

PDF = b"%PDF-1.5\n" + bytes(100)


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])  # magic bytes split across chunks
@pytest.mark.parametrize(
    ("data", "content_type", "extension"),
    [
        (PDF, "application/pdf", "pdf"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "image/png", "png"),
        (b"\xff\xd8\xff", "image/jpeg", "jpg"),  # shorter than the longest magic
    ],
)
async def test_accepted_types(
    tmp_path: Path, chunk: int, data: bytes, content_type: str, extension: str
) -> None:
    store = LicenceStore(tmp_path / "licences", 1000)
    licence = await store.save(chunks(data, chunk))
    assert (licence.content_type, licence.size) == (content_type, len(data))
    assert licence.sha256 == hashlib.sha256(data).hexdigest()
    assert re.fullmatch(rf"[0-9a-f]{{32}}\.{extension}", licence.file)
    assert store.path(licence).read_bytes() == data
    assert [p.name for p in (tmp_path / "licences").iterdir()] == [licence.file]


@pytest.mark.parametrize(
    "data", [b"", b"%PDF", b"\x89PNG\r\n\x1a", b"GIF89a", b"PK\x03\x04 a zip", b"\xef\xbb\xbf%PDF-"]
)
async def test_other_content_is_refused_and_not_kept(tmp_path: Path, data: bytes) -> None:
    store = LicenceStore(tmp_path, 1000)
    with pytest.raises(UnsupportedLicenceType):
        await store.save(chunks(data, 2))
    assert list(tmp_path.iterdir()) == []


async def test_size_limit(tmp_path: Path) -> None:
    store = LicenceStore(tmp_path, len(PDF))
    assert (await store.save(chunks(PDF, 10))).size == len(PDF)
    with pytest.raises(LicenceTooLarge):
        await store.save(chunks(PDF + b"x", 10))
    assert len(list(tmp_path.iterdir())) == 1


async def test_a_wrong_type_is_refused_before_the_rest_is_read(tmp_path: Path) -> None:
    read = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            read.append(1)
            yield b"MZ" + bytes(1000)

    with pytest.raises(UnsupportedLicenceType):
        await LicenceStore(tmp_path, 10**9).save(endless())
    assert len(read) == 1


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "x.pdf", "0" * 32 + ".exe", "0" * 32 + ".pdf/.."]
)
def test_only_generated_names_are_opened(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        LicenceStore(tmp_path, 10).path(Licence(name, "application/pdf", 1, "0" * 64))
