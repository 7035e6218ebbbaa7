"""Signed-in browser sessions for the enterprise portal and the operator console.

Signing in checks the credential exactly as HTTP Basic does (``Registry.authenticate``) and gives the
browser a random token (256 bits, never stored: the ``web_sessions`` table keeps its SHA-256) and a
per-session CSRF token that every form must send back. A session ends at ``session_minutes`` after
sign-in, at logout (its row is deleted, so the cookie is worthless even if kept), or as soon as the
secret it was opened with changes, however it changes (a password change here, the operator's reset,
the command line): each session keeps a digest of the stored secret hash and is checked against it.
Rows live in the database, so every process of the node, and every node on one PostgreSQL database,
sees the same sessions.

Failed sign-ins count toward the registry's login throttling like failed Basic credentials do (per
account and per client address): past its limits ``sign_in`` raises LoginThrottled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from idnode.model.channel import Channel
from idnode.model.errors import InvalidValue
from idnode.model.permissions import Principal
from idnode.registry import Registry
from idnode.seckeys import seckey_fingerprint
from idnode.storage.repository import Repository, StoredSession, utcnow

MIN_SECRET_LENGTH = 12


@dataclass(frozen=True, slots=True)
class WebSession:
    """A valid session: who is signed in, the CSRF token its forms carry, and when it ends."""

    principal: Principal
    csrf: str
    expires_at: datetime
    token_hash: bytes


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Sessions:
    """Signs principals in and out; see the module docstring."""

    def __init__(self, repository: Repository, registry: Registry, lifetime: timedelta) -> None:
        self.repository = repository
        self.registry = registry
        self.lifetime = lifetime

    async def sign_in(
        self, handle: str, index: int, secret: str, *, channel: Channel
    ) -> tuple[str, WebSession]:
        """Check the credential, sent over ``channel``, as ``Registry.authenticate`` does;
        return the new session's cookie token and the session.

        Raises AuthenticationNeeded for a wrong credential, LoginThrottled after too many failures.
        """
        principal = await self.registry.authenticate(handle, index, secret, channel=channel)
        return await self._open(principal)

    async def _open(self, principal: Principal) -> tuple[str, WebSession]:
        token, now = secrets.token_urlsafe(32), utcnow()
        stored = StoredSession(
            _digest(token),
            principal.handle,
            principal.index,
            secrets.token_urlsafe(32),
            await seckey_fingerprint(self.repository, principal.handle, principal.index) or "",
            now,
            now + self.lifetime,
        )
        await self.repository.add_session(stored)
        await self.repository.delete_sessions(expired_by=now)  # keep the table to live sessions
        return token, self._session(stored)

    def _session(self, stored: StoredSession) -> WebSession:
        operator = stored.handle == str(self.registry.operator_handle)
        principal = Principal(stored.handle, stored.key_index, is_operator=operator)
        return WebSession(principal, stored.csrf, stored.expires_at, stored.token_hash)

    async def current(self, token: str | None) -> WebSession | None:
        """The live session of a cookie token, or None (no token, unknown, signed out or expired)."""
        if not token:
            return None
        stored = await self.repository.get_session(_digest(token))
        if stored is None or stored.expires_at <= utcnow():
            return None
        credential = await seckey_fingerprint(self.repository, stored.handle, stored.key_index)
        if credential is None or not hmac.compare_digest(credential, stored.credential):
            await self.repository.delete_sessions(token_hash=stored.token_hash)  # its secret changed
            return None
        return self._session(stored)

    async def sign_out(self, session: WebSession) -> None:
        await self.repository.delete_sessions(token_hash=session.token_hash)

    @staticmethod
    def csrf_ok(session: WebSession, sent: str | None) -> bool:
        """Whether a form's CSRF token is this session's (compared in constant time)."""
        return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())

    async def change_secret(
        self, session: WebSession, current: str, new: str, *, channel: Channel
    ) -> tuple[str, WebSession]:
        """Set the signed-in credential's secret to ``new`` after checking ``current`` (a failure counts
        as a failed login). Every session of the credential ends, this one too, and a new session is
        returned in its place (token and session), as a sign-in with the new secret would. Raises
        AuthenticationNeeded (wrong current secret), LoginThrottled or InvalidValue."""
        if len(new) < MIN_SECRET_LENGTH:
            raise InvalidValue(f"The new secret needs at least {MIN_SECRET_LENGTH} characters.")
        principal = session.principal
        await self.registry.authenticate(principal.handle, principal.index, current, channel=channel)
        await self.registry.set_own_secret(principal, new)
        await self.repository.delete_sessions(handle=principal.handle)
        return await self._open(principal)
