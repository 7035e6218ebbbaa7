"""Business-licence files uploaded with applications: type by content, size limit, generated names.

A file is accepted only if its first bytes are those of a PDF, PNG or JPEG file (whatever its name or
declared type says) and it is at most ``licence_max_bytes`` long. It is stored under a name the node
generates (``<32 hex digits>.<pdf|png|jpg>``), never the client's, so a client's file name cannot
place or find a file anywhere; names read back from the database are checked against that form.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterable
from pathlib import Path

from idnode.model.application import Licence
from idnode.model.errors import ApplicationNotFound, LicenceTooLarge, UnsupportedLicenceType

# (magic bytes, content type, extension)
FORMATS = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
)
SNIFF_BYTES = max(len(magic) for magic, _, _ in FORMATS)
_NAME_RE = re.compile(r"[0-9a-f]{32}\.(?:pdf|png|jpg)")


def sniff(head: bytes) -> tuple[str, str]:
    """(content type, extension) of a file beginning with ``head``; raise UnsupportedLicenceType."""
    for magic, content_type, extension in FORMATS:
        if head.startswith(magic):
            return content_type, extension
    raise UnsupportedLicenceType(
        "The business licence must be a PDF, PNG or JPEG file (营业执照须为 PDF、PNG 或 JPEG 文件)."
    )


class LicenceStore:
    """Licence files in one directory."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    async def save(self, chunks: AsyncIterable[bytes]) -> Licence:
        """Store the file ``chunks`` make up; raise LicenceTooLarge or UnsupportedLicenceType (and keep
        nothing). Refuses as soon as the first bytes or the running size give it away."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        partial = self.directory / f".{name}.part"
        digest, size, head, kind = hashlib.sha256(), 0, b"", None
        try:
            # Small synchronous writes: a licence is a few MiB at most, written chunk by chunk.
            with partial.open("xb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise LicenceTooLarge(
                            f"The business licence is larger than {self.max_bytes} bytes "
                            f"(营业执照文件不得超过 {self.max_bytes} 字节)."
                        )
                    if kind is None and len(head) < SNIFF_BYTES:
                        head += chunk[: SNIFF_BYTES - len(head)]
                        if len(head) >= SNIFF_BYTES:
                            kind = sniff(head)
                    digest.update(chunk)
                    out.write(chunk)
            content_type, extension = kind or sniff(head)
            stored = f"{name}.{extension}"
            partial.rename(self.directory / stored)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return Licence(stored, content_type, size, digest.hexdigest())

    def path(self, licence: Licence) -> Path:
        """Where ``licence`` is stored; raise ApplicationNotFound if the file is gone."""
        if not _NAME_RE.fullmatch(licence.file):
            raise ValueError(f"not a generated licence file name: {licence.file!r}")
        path = self.directory / licence.file
        if not path.is_file():
            raise ApplicationNotFound("The application's licence file is missing.")
        return path

    def remove(self, licence: Licence) -> None:
        """Delete a stored licence (after the application it came with was refused)."""
        if _NAME_RE.fullmatch(licence.file):
            (self.directory / licence.file).unlink(missing_ok=True)
