"""Per-client budgets (idnode/ratelimit.py), who the client is (idnode/http/clients.py,
idnode/model/channel.py) and the rule for credentials on a channel (channel.require_private, which
Registry.authenticate applies)."""

from __future__ import annotations

import pytest

import idnode.ratelimit as ratelimit
from idnode.config import Settings
from idnode.core import Core
from idnode.http.clients import Clients
from idnode.model.channel import Channel, require_private
from idnode.model.errors import InsecureChannel, RateLimited
from idnode.ratelimit import RateLimiter, client_key, retry_after


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.wait("a", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait("a", 100.0) == pytest.approx(0.5)  # one token comes in half a second
    assert limiter.wait("b", 100.0) == 0.0  # another client has its own bucket
    assert limiter.wait("a", 100.5) == 0.0
    assert limiter.wait("a", 100.5) == pytest.approx(0.5)
    assert [limiter.wait("a", 200.0) for _ in range(4)][-1] > 0  # refills to the burst, not beyond


def test_clients_with_full_buckets_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "PRUNE_EVERY", 3)
    limiter = RateLimiter(rate=1.0, burst=2)
    limiter.wait("old", 0.0)
    limiter.wait("busy", 9.0)
    limiter.wait("busy", 9.0)
    limiter.wait("new", 10.0)  # the third new client: a sweep at 10 s, when "old" has refilled
    assert set(limiter.buckets) == {"busy", "new"}


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert [retry_after(s) for s in (0.01, 1.0, 1.2)] == [1, 1, 2]


def test_budget_keys() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:3:4:5:6") == client_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.1", False),
        ("", False),
    ],
)
def test_loopback(address: str, loopback: bool) -> None:
    assert Channel(address, encrypted=False).loopback is loopback
    assert Channel(address, encrypted=False).private is loopback
    assert Channel(address, encrypted=True).private


def test_forwarded_headers_are_believed_only_from_trusted_proxies() -> None:
    clients = Clients(Settings(trusted_proxies=("127.0.0.1", "10.0.0.0/8")))
    # From an untrusted peer the headers mean nothing: a client cannot pick its address or scheme.
    assert clients.channel("192.0.2.9", False, "198.51.100.1", "https") == Channel("192.0.2.9", False)
    # Through two trusted proxies: the nearest untrusted address is the client.
    chain = "198.51.100.1, 203.0.113.5, 10.1.2.3"
    assert clients.channel("127.0.0.1", False, chain, "https") == Channel("203.0.113.5", True)
    assert clients.channel("127.0.0.1", True, "203.0.113.5", "http") == Channel("203.0.113.5", False)
    assert clients.channel("127.0.0.1", False, None, None) == Channel("127.0.0.1", False)


def test_admission_counts_against_the_method_s_budget() -> None:
    clients = Clients(Settings(rate_limit_writes=1.0, rate_limit_writes_burst=1, rate_limit_resolves=0))
    assert clients.limiter("GET") is None  # reads unlimited here
    clients.admit(clients.limiter("PUT"), "192.0.2.1")
    with pytest.raises(RateLimited) as refused:
        clients.admit(clients.limiter("DELETE"), "192.0.2.1")
    assert refused.value.retry_after == 1 and refused.value.response_code == 3


def test_credentials_need_a_private_channel_unless_the_policy_is_off() -> None:
    require_private(Channel("127.0.0.1", encrypted=False), required=True)
    require_private(Channel("192.0.2.1", encrypted=True), required=True)
    with pytest.raises(InsecureChannel) as refused:
        require_private(Channel("192.0.2.1", encrypted=False), required=True)
    assert refused.value.response_code == 403
    require_private(Channel("192.0.2.1", encrypted=False), required=False)


async def test_the_registry_refuses_a_credential_from_afar_in_the_clear_before_checking_it(
    core: Core,
) -> None:
    assert core.operator_secret is not None
    operator = str(core.registry.operator_handle)
    with pytest.raises(InsecureChannel):  # the right secret, but over plain HTTP from another machine
        await core.registry.authenticate(
            operator, 300, core.operator_secret, channel=Channel("192.0.2.1", False)
        )
    with pytest.raises(InsecureChannel):  # and a wrong one gets the same answer: nothing is looked up
        await core.registry.authenticate(operator, 300, "wrong", channel=Channel("192.0.2.1", False))
    secure = Channel("192.0.2.1", encrypted=True)
    assert (await core.registry.authenticate(operator, 300, core.operator_secret, channel=secure)).is_operator
