"""Bearer tokens of the SNMS API: HS256 JSON Web Tokens (RFC 7519) standing for one credential.

A token names the credential it stands for (``sub``, ``<index>:<handle>``), its own random id
(``jti``), and when it was issued and expires (``iat``, ``exp``, ``snms_token_seconds`` later). It is
signed with HMAC-SHA-256 under a random key the node keeps in its database (``node_meta``), so every
process sharing the database accepts what any of them issued. A token is accepted only while its row
in ``snms_tokens`` exists and is not revoked, which is what makes it revocable at once (logout); only
the id is stored, never the token. A token is also bound to the credential's secret key as it was at
login (its fingerprint, see ``seckeys``): a secret reset ends every token issued before it. Expired
rows are dropped as new tokens are issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime, timedelta

import orjson

from idnode.model.channel import Channel, require_private
from idnode.model.errors import TokenRejected
from idnode.model.identifier import Identifier
from idnode.model.permissions import Principal
from idnode.seckeys import seckey_fingerprint
from idnode.signing import b64url, b64url_decode
from idnode.storage.repository import Repository

KEY_META = "snms_token_key"
_HEADER = b64url(orjson.dumps({"alg": "HS256", "typ": "JWT"}))


class TokenService:
    """Issues, checks and revokes bearer tokens; see the module docstring."""

    def __init__(
        self, repository: Repository, operator_handle: Identifier, lifetime_seconds: int, require_tls: bool
    ) -> None:
        self.repository = repository
        self.operator_handle = str(operator_handle)
        self.lifetime = timedelta(seconds=lifetime_seconds)
        self.require_tls = require_tls  # the require_tls_for_credentials policy: a token is a credential
        self._key: bytes | None = None

    async def _signing_key(self) -> bytes:
        """The node's token key, created by the first process that needs one."""
        if self._key is None:
            stored = await self.repository.get_meta(KEY_META)
            if stored is None:
                async with self.repository.transaction() as tx:
                    stored = await tx.meta_default(KEY_META, base64.b64encode(os.urandom(32)).decode())
            self._key = base64.b64decode(stored)
        return self._key

    def _signature(self, key: bytes, signing_input: str) -> str:
        return b64url(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())

    async def issue(self, principal: Principal) -> str:
        """A new token for ``principal`` (who has just proved their secret); raise TokenRejected if
        its secret key is gone meanwhile."""
        key = await self._signing_key()
        fingerprint = await seckey_fingerprint(self.repository, principal.handle, principal.index)
        if fingerprint is None:
            raise TokenRejected("密钥已更换，请重新登录获取token")
        now = datetime.now(UTC).replace(microsecond=0)
        expires = now + self.lifetime
        token_id = secrets.token_hex(16)
        async with self.repository.transaction() as tx:
            await tx.insert_token(token_id, principal.handle, principal.index, fingerprint, expires)
        claims = {
            "jti": token_id,
            "sub": str(principal),
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        signing_input = f"{_HEADER}.{b64url(orjson.dumps(claims))}"
        return f"{signing_input}.{self._signature(key, signing_input)}"

    async def _claims(self, token: str) -> dict[str, object]:
        """The claims of a token signed with the node's key; raise TokenRejected."""
        if not token.isascii():
            raise TokenRejected("token无效，请重新登录获取token")
        header, _, rest = token.partition(".")
        body, _, signature = rest.partition(".")
        key = await self._signing_key()
        expected = self._signature(key, f"{header}.{body}")
        if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
            raise TokenRejected("token无效，请重新登录获取token")
        claims = orjson.loads(b64url_decode(body))
        if not isinstance(claims, dict) or not isinstance(claims.get("jti"), str):
            raise TokenRejected("token无效，请重新登录获取token")
        return claims

    async def verify(self, token: str, channel: Channel) -> Principal:
        """The principal a live token, sent over ``channel``, stands for; raise TokenRejected if it is
        forged, malformed, expired or revoked (ReadOnlyMirror on a mirror, which holds no credentials;
        InsecureChannel, as ``Registry.authenticate`` does for secrets)."""
        self.repository.require_writable()
        require_private(channel, self.require_tls)
        claims = await self._claims(token)
        stored = await self.repository.get_token(str(claims["jti"]))
        if stored is None or stored.revoked_at is not None:
            raise TokenRejected("token已失效，请重新登录获取token")
        if stored.expires_at <= datetime.now(UTC):
            raise TokenRejected("token已过期，请重新登录获取token")
        fingerprint = await seckey_fingerprint(self.repository, stored.handle, stored.index)
        if fingerprint is None or not hmac.compare_digest(fingerprint, stored.seckey):
            raise TokenRejected("密钥已更换，请重新登录获取token")
        return Principal(stored.handle, stored.index, is_operator=stored.handle == self.operator_handle)

    async def revoke(self, token: str, channel: Channel) -> None:
        """End a live token, sent over ``channel``, at once (logout); raise TokenRejected if it is not
        one (InsecureChannel as ``verify``)."""
        self.repository.require_writable()
        require_private(channel, self.require_tls)
        claims = await self._claims(token)
        async with self.repository.transaction() as tx:
            if not await tx.revoke_token(str(claims["jti"])):
                raise TokenRejected("token已失效，请重新登录获取token")
