"""SNMS login: usernames as SNMS clients send them, the plaintext and the day-salted login, tokens.

Usernames. An SNMS client logs in with the enterprise's credential; this node accepts it as
``300:<prefix>/ADMIN`` (the Handle username, colon plain or ``%3A``), ``<prefix>/ADMIN`` (index 300
implied) or the bare enterprise prefix ``<prefix>`` (meaning ``300:<prefix>/ADMIN``); any other
``<index>:<handle>`` with an HS_SECKEY (the operator's, a further key holder's) works the same way.

Plaintext login (``/identity/token``) checks the secret through ``Registry.authenticate``, the one
credential check of the node (scrypt hashes, failed-login throttling), so it is exactly as strong as
Handle Basic authentication.

Day-salted login (``/identity/token/v1``): the client sends ``sha256(sha256(secret) + "yyyy-MM-dd")``
in hex. Checking that needs ``sha256(secret)``, which a salted scrypt hash cannot give, so the node
must keep it, and does so only when the operator turns ``snms_day_salted_login`` on: then each
successful plaintext login stores ``sha256(secret)`` with a fingerprint of the HS_SECKEY hash it was
checked against (``snms_login_digests``). The day-salted login works from a credential's first
plaintext login on, until its secret changes (a reset, a new HS_SECKEY): the fingerprint no longer
matches and only a plaintext login works again. The price: the stored digest is an unsalted fast hash
of the secret, so a copy of the database lets its holder log in this way, and would let them guess
a weak secret quickly (the node's own secrets are 192 random bits, beyond guessing). Handle
authentication never uses it. Off, the day-salted login is refused and nothing is stored. The date is
the one in China (UTC+8), or the UTC date, so clients on either clock get in.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote

from idnode.model.channel import Channel, require_private
from idnode.model.errors import AuthenticationNeeded, InvalidHandle, LoginFailed, SnmsInvalid
from idnode.model.identifier import ADMIN_SUFFIX, Identifier
from idnode.model.permissions import Principal
from idnode.registry import SECKEY_INDEX, Registry
from idnode.seckeys import seckey_fingerprint, sha256_hex
from idnode.snms.tokens import TokenService

CHINA = timezone(timedelta(hours=8))


def credential_of(username: str) -> tuple[str, int]:
    """The (handle, index) of the credential an SNMS username names (see the module docstring)."""
    name = unquote(username.strip())
    index_text, colon, handle = name.partition(":")
    if colon and index_text.isdigit():
        return handle, int(index_text)
    if "/" in name:
        return name, SECKEY_INDEX
    return f"{name}/{ADMIN_SUFFIX}", SECKEY_INDEX


def login_days(now: datetime) -> set[str]:
    """The dates a day-salted password may be made with at ``now``: China's and UTC's."""
    return {now.astimezone(CHINA).strftime("%Y-%m-%d"), now.astimezone(UTC).strftime("%Y-%m-%d")}


def day_salted(digest: str, day: str) -> str:
    """What the day-salted login sends for a stored ``sha256(secret)`` on ``day``."""
    return sha256_hex(digest + day)


class Login:
    """Turns SNMS credentials into bearer tokens; see the module docstring."""

    def __init__(self, registry: Registry, tokens: TokenService) -> None:
        self.registry = registry
        self.repository = registry.repository
        self.tokens = tokens
        self.day_salted_enabled = registry.settings.snms_day_salted_login

    @staticmethod
    def _fields(username: object, password: object) -> tuple[str, str]:
        if not isinstance(username, str) or not username.strip():
            raise SnmsInvalid("缺少必要的请求参数: username")
        if not isinstance(password, str) or not password:
            raise SnmsInvalid("缺少必要的请求参数: password")
        return username, password

    async def plain(self, username: object, password: object, channel: Channel) -> str:
        """A token for a username and its secret, sent over ``channel``; raise LoginFailed, or what
        ``Registry.authenticate`` raises before checking (LoginThrottled after too many failures for
        the account or from the channel's address, InsecureChannel)."""
        username, password = self._fields(username, password)
        handle, index = credential_of(username)
        try:
            principal = await self.registry.authenticate(handle, index, password, channel=channel)
        except AuthenticationNeeded as exc:
            if type(exc) is AuthenticationNeeded:  # a wrong credential; anything more specific passes
                raise LoginFailed() from None
            raise
        if self.day_salted_enabled:
            await self._remember_digest(principal, sha256_hex(password))
        return await self.tokens.issue(principal)

    async def _remember_digest(self, principal: Principal, digest: str) -> None:
        fingerprint = await seckey_fingerprint(self.repository, principal.handle, principal.index)
        if fingerprint is None:
            return
        stored = await self.repository.get_login_digest(principal.handle, principal.index)
        if stored is not None and stored.digest == digest and stored.seckey == fingerprint:
            return  # the usual case: nothing changed since the last login, so nothing is written
        async with self.repository.transaction() as tx:
            await tx.put_login_digest(principal.handle, principal.index, digest, fingerprint)

    async def day_salted(
        self, username: object, password: object, channel: Channel, now: datetime | None = None
    ) -> str:
        """A token for a username and ``sha256(sha256(secret) + day)``, sent over ``channel``; raise
        LoginFailed, or SnmsInvalid when the day-salted login is off. Checked as ``Registry.authenticate``
        checks a secret: the channel must be private when the policy says so (InsecureChannel), and
        failures count against the account and the channel's address in the same throttle
        (LoginThrottled)."""
        username, password = self._fields(username, password)
        self.repository.require_writable()
        if not self.day_salted_enabled:
            raise SnmsInvalid("本节点未开启密文登录，请使用 /identity/token")
        require_private(channel, self.registry.settings.require_tls_for_credentials)
        throttle, client = self.registry.throttle, channel.address or None
        handle, index = credential_of(username)
        try:
            identifier = Identifier.parse(handle)
        except InvalidHandle:
            throttle.check(None, client)
            throttle.failed(None, client)
            raise LoginFailed() from None
        handle, account = str(identifier), f"{index}:{identifier}"
        throttle.check(account, client)
        stored = await self.repository.get_login_digest(handle, index)
        fingerprint = await seckey_fingerprint(self.repository, handle, index)
        sent = password.strip().lower().encode()
        days = login_days(now or datetime.now(UTC))
        if (
            stored is None
            or fingerprint is None
            or not hmac.compare_digest(stored.seckey, fingerprint)
            or not any(hmac.compare_digest(sent, day_salted(stored.digest, day).encode()) for day in days)
        ):
            throttle.failed(account, client)
            raise LoginFailed()
        throttle.succeeded(account)
        operator = identifier == self.registry.operator_handle
        return await self.tokens.issue(Principal(handle, index, is_operator=operator))
