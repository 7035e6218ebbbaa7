"""Reading multipart/form-data bodies: a body not framed as its Content-Type says is a client error.

aiohttp's multipart reader raises ValueError (no or a bad boundary, a cut-off body) or an
HttpProcessingError (part headers that do not parse) for such a body; left alone they would be 500s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from aiohttp import BodyPartReader
from aiohttp.http_exceptions import HttpProcessingError

from idnode.model.errors import ProtocolError

MALFORMED = (ValueError, HttpProcessingError)
CHUNK_BYTES = 64 * 1024


async def chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    """A part's content, a chunk at a time (a file part is never read whole into memory)."""
    while chunk := await part.read_chunk(CHUNK_BYTES):
        yield chunk


@contextmanager
def well_framed() -> Iterator[None]:
    """Raise ProtocolError (responseCode 4, HTTP 400) instead of the reader's errors for a malformed
    body while reading multipart parts inside the block."""
    try:
        yield
    except MALFORMED as exc:
        detail = str(getattr(exc, "message", exc)).strip()
        raise ProtocolError(f"Malformed multipart/form-data body: {detail}.") from None
