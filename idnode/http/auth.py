"""HTTP Basic credentials in the Handle.Net form: username ``<index>:<handle>``, password the secret.

The username's colon may arrive percent-encoded (``300%3A88.999.1001/ADMIN``, as pyhandle sends it)
or plain (``300:88.999.1001/ADMIN:secret``); both are accepted.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote

from aiohttp import web

from idnode.http.keys import REGISTRY
from idnode.model.errors import AuthenticationNeeded
from idnode.model.permissions import Principal

_USER_RE = re.compile(r"(\d+):([^:]+)")


def parse_basic(header: str) -> tuple[int, str, str]:
    """Return (index, handle, secret) from an ``Authorization: Basic`` header; raise AuthenticationNeeded."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise AuthenticationNeeded("Unsupported authorization scheme; use Basic with 300:<prefix>/ADMIN.")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationNeeded("Malformed Basic credentials.") from None
    user, _, secret = decoded.partition(":")
    user = unquote(user)
    if ":" not in user:  # colon sent plain: "<index>:<handle>:<secret>"
        handle, _, secret = secret.partition(":")
        user = f"{user}:{handle}"
    match = _USER_RE.fullmatch(user)
    if not match:
        raise AuthenticationNeeded(
            "The username must look like <index>:<handle>, e.g. 300:88.999.1001/ADMIN."
        )
    return int(match.group(1)), match.group(2), secret


async def principal_of(request: web.Request) -> Principal | None:
    """The authenticated caller, None when no credentials were sent; raise AuthenticationNeeded if wrong
    (LoginThrottled after too many failures from this address or for this account)."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    index, handle, secret = parse_basic(header)
    # The peer address, not X-Forwarded-For: a header any client can forge must not pick the key
    # its failures are counted under.
    return await request.app[REGISTRY].authenticate(handle, index, secret, client=request.remote)
