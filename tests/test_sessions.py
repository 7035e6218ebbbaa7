"""Signed-in sessions (idnode.sessions) on SQLite and PostgreSQL: what a session token is worth after
sign-in, logout, expiry and a password change or reset, and failed sign-ins counted by the login throttle."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idnode.core import Core
from idnode.model.errors import AuthenticationNeeded, InvalidValue, LoginThrottled
from idnode.sessions import Sessions
from tests.test_registry import LOCAL, draft
from tests.test_throttle import over_tls


async def enterprise(core: Core, serial: int) -> tuple[str, str]:
    found, secret = await core.registry.add_enterprise(core.local_operator, draft(serial))
    return f"{found.prefix}/ADMIN", secret


async def test_a_session_lives_until_logout(core: Core) -> None:
    handle, secret = await enterprise(core, 1)
    token, session = await core.sessions.sign_in(handle, 300, secret, channel=LOCAL)
    current = await core.sessions.current(token)
    assert current is not None and current.principal == session.principal
    assert current.principal.prefix == handle.split("/")[0] and not current.principal.is_operator
    assert core.sessions.csrf_ok(current, session.csrf) and not core.sessions.csrf_ok(current, "x")
    assert not core.sessions.csrf_ok(current, None)
    await core.sessions.sign_out(current)
    assert await core.sessions.current(token) is None
    assert await core.sessions.current("made-up") is None and await core.sessions.current(None) is None


async def test_the_token_is_not_stored(core: Core) -> None:
    handle, secret = await enterprise(core, 2)
    token, session = await core.sessions.sign_in(handle, 300, secret, channel=LOCAL)
    stored = await core.repository.get_session(session.token_hash)
    assert stored is not None and token.encode() not in stored.token_hash and len(stored.token_hash) == 32


async def test_an_expired_session_is_no_session(core: Core) -> None:
    handle, secret = await enterprise(core, 3)
    short = Sessions(core.repository, core.registry, timedelta(seconds=-1))
    token, _ = await short.sign_in(handle, 300, secret, channel=LOCAL)
    assert await short.current(token) is None


async def test_the_operator_signs_in_as_operator(core: Core) -> None:
    secret = core.operator_secret
    assert secret is not None
    token, session = await core.sessions.sign_in(
        str(core.registry.operator_handle), 300, secret, channel=LOCAL
    )
    assert session.principal.is_operator and (await core.sessions.current(token)) is not None


async def test_a_wrong_secret_is_refused(core: Core) -> None:
    handle, _ = await enterprise(core, 4)
    with pytest.raises(AuthenticationNeeded):
        await core.sessions.sign_in(handle, 300, "wrong", channel=LOCAL)


async def test_changing_the_secret_renews_this_session_and_ends_the_others(core: Core) -> None:
    handle, secret = await enterprise(core, 5)
    mine, session = await core.sessions.sign_in(handle, 300, secret, channel=LOCAL)
    other, _ = await core.sessions.sign_in(handle, 300, secret, channel=LOCAL)
    with pytest.raises(AuthenticationNeeded):
        await core.sessions.change_secret(session, "not-the-secret", "a-long-new-secret", channel=LOCAL)
    with pytest.raises(InvalidValue):
        await core.sessions.change_secret(session, secret, "short", channel=LOCAL)
    renewed, _ = await core.sessions.change_secret(session, secret, "a-long-new-secret", channel=LOCAL)
    assert await core.sessions.current(renewed) is not None
    assert await core.sessions.current(mine) is None and await core.sessions.current(other) is None
    await core.registry.authenticate(handle, 300, "a-long-new-secret", channel=LOCAL)
    with pytest.raises(AuthenticationNeeded):
        await core.registry.authenticate(handle, 300, secret, channel=LOCAL)


async def test_failed_sign_ins_count_toward_the_login_throttle(core: Core) -> None:
    handle, secret = await enterprise(core, 6)
    for _ in range(core.settings.login_failures_per_account):
        with pytest.raises(AuthenticationNeeded):
            await core.sessions.sign_in(handle, 300, "wrong", channel=over_tls("192.0.2.1"))
    with pytest.raises(LoginThrottled):
        await core.sessions.sign_in(handle, 300, secret, channel=over_tls("192.0.2.2"))
    other, other_secret = await enterprise(core, 7)
    await core.sessions.sign_in(other, 300, other_secret, channel=over_tls("192.0.2.1"))  # that account only


async def test_a_secret_reset_elsewhere_ends_the_sessions(core: Core) -> None:
    handle, secret = await enterprise(core, 8)
    token, _ = await core.sessions.sign_in(handle, 300, secret, channel=LOCAL)
    await core.registry.reset_enterprise_secret(core.local_operator, handle.split("/")[0])
    assert await core.sessions.current(token) is None
