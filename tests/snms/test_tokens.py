"""SNMS bearer tokens on the core (SQLite and PostgreSQL): issue, verify, revoke, expire, and end with
the secret they were issued under."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from idnode.config import Settings
from idnode.core import open_core
from idnode.model.channel import Channel
from idnode.model.errors import InsecureChannel, TokenRejected
from idnode.snms.tokens import TokenService
from tests.test_bulk import onboard

LOCAL = Channel("127.0.0.1", encrypted=False)


async def test_a_token_stands_for_its_credential_until_revoked(settings: Settings) -> None:
    async with open_core(settings) as core:
        tokens = core.snms.tokens
        admin = await onboard(core, 1)
        token = await tokens.issue(admin)
        operator = await tokens.issue(core.local_operator)
        assert await tokens.verify(token, LOCAL) == admin
        assert (await tokens.verify(operator, LOCAL)).is_operator
        # Another process sharing the database (a new service, no cached key) accepts it too.
        other = TokenService(core.repository, core.registry.operator_handle, 60, require_tls=True)
        assert await other.verify(token, LOCAL) == admin
        await tokens.revoke(token, LOCAL)
        with pytest.raises(TokenRejected, match="失效"):
            await other.verify(token, LOCAL)
        with pytest.raises(TokenRejected, match="失效"):
            await tokens.revoke(token, LOCAL)
        assert await tokens.verify(operator, LOCAL) == core.local_operator
        # A token is a credential: over plain HTTP from another machine it is refused unlooked-at.
        with pytest.raises(InsecureChannel):
            await tokens.verify(operator, Channel("192.0.2.7", encrypted=False))
        assert await tokens.verify(operator, Channel("192.0.2.7", encrypted=True)) == core.local_operator


async def test_a_secret_reset_ends_the_tokens_issued_before_it(settings: Settings) -> None:
    async with open_core(settings) as core:
        admin = await onboard(core, 2)
        token = await core.snms.tokens.issue(admin)
        await core.registry.reset_enterprise_secret(core.local_operator, admin.prefix)
        with pytest.raises(TokenRejected, match="密钥已更换"):
            await core.snms.tokens.verify(token, LOCAL)
        assert await core.snms.tokens.verify(await core.snms.tokens.issue(admin), LOCAL) == admin


async def test_forged_and_expired_tokens_are_refused(settings: Settings) -> None:
    async with open_core(replace(settings, snms_token_seconds=1)) as core:
        tokens = core.snms.tokens
        token = await tokens.issue(core.local_operator)
        header, body, signature = token.split(".")
        forged_claims = body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB")
        for bad in (f"{header}.{forged_claims}.{signature}", "x.y.z", "token", "tökén"):
            with pytest.raises(TokenRejected, match="无效"):
                await tokens.verify(bad, LOCAL)
        await asyncio.sleep(1.1)
        with pytest.raises(TokenRejected, match="过期"):
            await tokens.verify(token, LOCAL)
