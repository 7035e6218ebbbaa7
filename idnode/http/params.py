"""Query parameters several endpoints share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from idnode.model.errors import ProtocolError

MAX_OFFSET = 2**63 - 1  # an SQL BIGINT: PostgreSQL refuses a larger OFFSET


def check_offset(page: int, size: int) -> int:
    """The offset of ``page`` of ``size`` rows; ProtocolError when no store could skip that many."""
    offset = page * size
    if offset > MAX_OFFSET:
        raise ProtocolError("page is too large: it starts past any possible result.")
    return offset


def paging(request: web.Request, default_size: int, max_size: int) -> tuple[int, int]:
    """(page, pageSize) from the query, as Handle.Net's list call takes them; raise ProtocolError."""
    try:
        page = int(request.query.get("page", "0"))
        size = int(request.query.get("pageSize", str(default_size)))
    except ValueError:
        raise ProtocolError("page and pageSize must be integers.") from None
    if page < 0 or size < 0:
        raise ProtocolError("page and pageSize must not be negative.")
    if size > max_size:
        raise ProtocolError(f"pageSize may be at most {max_size}.")
    check_offset(page, size)
    return page, size


def page_body(key: str, items: Sequence[Any], total: int, page: int, size: int) -> dict[str, Any]:
    """The body answering a paged list request: ``items`` (JSON-ready) under ``key``."""
    return {"responseCode": 1, "totalCount": total, "page": page, "pageSize": size, key: list(items)}
