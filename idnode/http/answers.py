"""HTTP framing of anonymous resolve answers, shared by the fast path and the aiohttp handler.

Partners' caches get ``Cache-Control: max-age`` from what is left of the answer's TTL (``no-store``
for TTL 0 and for errors that are not cached), an ``ETag`` on every successful answer, and 304 Not
Modified when ``If-None-Match`` names it. A referral is a 302 to the node holding the prefix; a record
resolved recursively names the node it came from in ``Idnode-Origin``.
"""

from __future__ import annotations

import time

from idnode.cache import CachedResponse
from idnode.http.errors import http_status

CORS = ("Access-Control-Allow-Origin", "*")
ORIGIN_HEADER = "Idnode-Origin"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of ``etag`` against an If-None-Match header value."""
    if not if_none_match:
        return False
    candidates = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in candidates or any(tag.removeprefix("W/") == etag for tag in candidates)


def framed(answer: CachedResponse, if_none_match: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    """(HTTP status, headers, body) for ``answer`` (Content-Type and Content-Length not included)."""
    status = 302 if answer.location else http_status(answer.response_code, resolve=True)
    max_age = answer.max_age(time.monotonic())
    headers = [("Cache-Control", f"max-age={max_age}" if max_age else "no-store"), CORS]
    if answer.location:
        headers.append(("Location", answer.location))
    if answer.origin:
        headers.append((ORIGIN_HEADER, answer.origin))
    if status == 200:
        headers.append(("ETag", answer.etag))
        if etag_matches(if_none_match, answer.etag):
            return 304, headers, b""
    return status, headers, answer.body
