"""Requests to other nodes (upper node, the node holding a prefix, a mirror's primary): JSON over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp

from idnode.model.errors import UpstreamUnavailable


async def get_json(
    session: aiohttp.ClientSession, url: str, *, auth: aiohttp.BasicAuth | None = None
) -> dict[str, Any] | None:
    """The JSON object ``url`` answers with HTTP 200, None for a 404; UpstreamUnavailable for anything
    else (unreachable, timed out, another status, a body that is not a JSON object). Redirects are
    not followed: a node answers for itself."""
    try:
        async with session.get(url, auth=auth, allow_redirects=False) as response:
            if response.status == 404:
                return None
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise UpstreamUnavailable(f"GET {url} failed: {exc!r}.") from None
    if response.status != 200 or not isinstance(body, dict):
        message = body.get("message") if isinstance(body, dict) else None
        raise UpstreamUnavailable(
            f"GET {url} answered HTTP {response.status}: {message or 'no JSON object'}."
        )
    return body
