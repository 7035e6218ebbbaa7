"""Bulk registration over HTTP: ``POST /api/bulk?prefix=P[&template=T][&dryRun=true]`` with a CSV
(``text/csv``) or JSON Lines (``application/x-ndjson``, ``application/jsonl``) body, imported as
``idnode import`` imports a file (see ``idnode.importing``).

The body is streamed to a temporary file (so it is never all in memory), at most ``max_bulk_body_bytes``;
the answer lists at most ``MAX_LISTED_FAILURES`` failed rows (``failuresTruncated`` says when more
failed). Credentials are checked before the body is read.
"""

from __future__ import annotations

import asyncio
import tempfile

from aiohttp import web

from idnode.http.auth import principal_of
from idnode.http.errors import json_response
from idnode.http.keys import IMPORTER, SETTINGS
from idnode.http.limits import takes_body, too_large
from idnode.importfile import ImportFile
from idnode.importing import summary
from idnode.model.errors import ProtocolError
from idnode.model.query import parse_flag

MAX_LISTED_FAILURES = 1000
FORMATS = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/jsonlines": "jsonl",
}
_CHUNK = 1 << 16


@takes_body(lambda settings: settings.max_bulk_body_bytes)
async def post_bulk(request: web.Request) -> web.StreamResponse:
    importer = request.app[IMPORTER]
    principal = await principal_of(request)
    prefix = request.query.get("prefix")
    if not prefix:
        raise ProtocolError("Name the enterprise prefix: POST /api/bulk?prefix=<prefix>.")
    prefix = await importer.check(principal, prefix)
    fmt = FORMATS.get(request.content_type)
    if fmt is None:
        raise ProtocolError(f"Content-Type must be one of {', '.join(FORMATS)}.")
    dry_run = parse_flag("dryRun", request.query.get("dryRun"))
    limit = request.app[SETTINGS].max_bulk_body_bytes
    with tempfile.TemporaryFile() as spool:
        size = 0
        async for chunk in request.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            spool.write(chunk)
        source = await asyncio.to_thread(ImportFile.open, spool, fmt)
        result = await importer.run(
            principal,
            source,
            prefix=prefix,
            template=request.query.get("template"),
            dry_run=dry_run,
            max_failures=MAX_LISTED_FAILURES,
        )
    return json_response({"responseCode": 1, "dryRun": dry_run, **summary(result)})


routes = [web.post("/api/bulk", post_bulk)]
