"""Failed-login throttling (idnode/throttle.py) and the core login path that uses it (no server)."""

from __future__ import annotations

import pytest

from idnode.core import Core
from idnode.model.channel import Channel
from idnode.model.errors import AuthenticationNeeded, LoginThrottled
from idnode.model.permissions import Principal
from idnode.throttle import FailureCounter, LoginThrottle
from tests.test_registry import draft


def over_tls(address: str) -> Channel:
    """A login from ``address`` ("": unknown) over an encrypted connection."""
    return Channel(address, encrypted=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_url() -> str:
    """Throttling is process memory, not storage: the embedded database is enough."""
    return ""


def test_counter_refuses_at_the_limit_until_the_window_ends() -> None:
    clock = Clock()
    counter = FailureCounter(3, 60, clock)
    for _ in range(2):
        counter.fail("a")
    assert counter.retry_after("a") == 0
    counter.fail("a")
    assert counter.retry_after("a") == 60
    clock.now += 59.5
    assert counter.retry_after("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert counter.retry_after("a") == 0
    counter.fail("a")  # a fresh window: one failure is not a lock
    assert counter.retry_after("a") == 0


def test_counter_keys_are_independent_and_clear_forgets() -> None:
    counter = FailureCounter(1, 60, Clock())
    counter.fail("a")
    assert counter.retry_after("a") > 0 and counter.retry_after("b") == 0
    counter.clear("a")
    assert counter.retry_after("a") == 0


def test_limit_zero_never_refuses() -> None:
    counter = FailureCounter(0, 60, Clock())
    for _ in range(100):
        counter.fail("a")
    assert counter.retry_after("a") == 0


def test_counter_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("idnode.throttle.MAX_TRACKED", 10)
    counter = FailureCounter(1, 60, Clock())
    for n in range(25):
        counter.fail(f"k{n}")
    assert len(counter._windows) <= 10
    assert counter.retry_after("k24") > 0  # the newest are kept


def test_throttle_checks_account_and_client_separately() -> None:
    clock = Clock()
    throttle = LoginThrottle(account_limit=2, client_limit=3, window_seconds=30, clock=clock)
    throttle.failed("300:a/ADMIN", "10.0.0.1")
    throttle.failed("300:a/ADMIN", "10.0.0.2")
    with pytest.raises(LoginThrottled) as refused:  # the account, from any address
        throttle.check("300:a/ADMIN", "10.0.0.3")
    assert refused.value.retry_after == 30 and refused.value.response_code == 3
    throttle.check("300:b/ADMIN", "10.0.0.1")
    throttle.failed("300:b/ADMIN", "10.0.0.1")
    throttle.failed("300:c/ADMIN", "10.0.0.1")
    with pytest.raises(LoginThrottled):  # the address, for any account
        throttle.check("300:d/ADMIN", "10.0.0.1")
    throttle.check("300:d/ADMIN", None)  # no address known (CLI): only the account counts
    clock.now += 30
    throttle.check("300:a/ADMIN", "10.0.0.1")


def test_success_clears_the_account_but_not_the_client() -> None:
    throttle = LoginThrottle(account_limit=2, client_limit=2, window_seconds=30, clock=Clock())
    throttle.failed("300:a/ADMIN", "10.0.0.1")
    throttle.succeeded("300:a/ADMIN")
    throttle.failed("300:a/ADMIN", "10.0.0.2")
    throttle.check("300:a/ADMIN", "10.0.0.3")
    throttle.failed("300:b/ADMIN", "10.0.0.1")
    with pytest.raises(LoginThrottled):
        throttle.check("300:c/ADMIN", "10.0.0.1")


async def test_registry_refuses_even_the_right_secret_while_throttled(core: Core) -> None:
    enterprise, secret = await core.registry.add_enterprise(core.local_operator, draft(1))
    handle = f"{enterprise.prefix.upper()}/ADMIN"  # the account is the normalised handle
    clock = Clock()
    core.registry.throttle = LoginThrottle(3, 50, 60, clock)
    for _ in range(3):
        with pytest.raises(AuthenticationNeeded):
            await core.registry.authenticate(handle, 300, "guess", channel=over_tls("192.0.2.7"))
    for client in ("192.0.2.7", "198.51.100.1", ""):
        with pytest.raises(LoginThrottled):
            await core.registry.authenticate(handle, 300, secret, channel=over_tls(client))
    clock.now += 60  # the lock ends with its window; the refused attempts did not extend it
    admin = await core.registry.authenticate(handle, 300, secret, channel=over_tls("192.0.2.7"))
    assert admin == Principal(f"{enterprise.prefix}/ADMIN", 300)


async def test_registry_throttles_a_client_guessing_many_accounts(core: Core) -> None:
    enterprise, secret = await core.registry.add_enterprise(core.local_operator, draft(2))
    core.registry.throttle = LoginThrottle(100, 3, 60, Clock())
    admin = f"{enterprise.prefix}/ADMIN"
    for name in ("88.999.1/ADMIN", "88.999.2/ADMIN", "not a handle"):
        with pytest.raises(AuthenticationNeeded):
            await core.registry.authenticate(name, 300, "guess", channel=over_tls("192.0.2.9"))
    with pytest.raises(LoginThrottled):
        await core.registry.authenticate(admin, 300, secret, channel=over_tls("192.0.2.9"))
    assert await core.registry.authenticate(admin, 300, secret, channel=over_tls("192.0.2.10"))


async def test_registry_counts_an_ipv6_client_per_64_block(core: Core) -> None:
    enterprise, secret = await core.registry.add_enterprise(core.local_operator, draft(3))
    core.registry.throttle = LoginThrottle(100, 3, 60, Clock())
    admin = f"{enterprise.prefix}/ADMIN"
    for host in (1, 2, 3):  # three addresses of one /64
        with pytest.raises(AuthenticationNeeded):
            await core.registry.authenticate(admin, 300, "guess", channel=over_tls(f"2001:db8:1:2::{host}"))
    with pytest.raises(LoginThrottled):
        await core.registry.authenticate(admin, 300, secret, channel=over_tls("2001:db8:1:2::99"))
    assert await core.registry.authenticate(admin, 300, secret, channel=over_tls("2001:db8:1:3::1"))
