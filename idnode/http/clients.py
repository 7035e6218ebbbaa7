"""Who a request comes from, and whether it is within that client's budget; shared by the fast path
and the aiohttp application, so both count against the same buckets.

The client is the connection's peer, unless the peer is one of ``trusted_proxies``: then it is the
nearest address in ``X-Forwarded-For`` that is not a trusted proxy, and the connection counts as
encrypted when the proxy says ``X-Forwarded-Proto: https``. Anything else would let every client
choose its own address.
"""

from __future__ import annotations

import ipaddress
import time

from idnode.config import Settings
from idnode.model.channel import Channel
from idnode.model.errors import RateLimited
from idnode.ratelimit import RateLimiter, retry_after

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _limiter(rate: float, burst: int) -> RateLimiter | None:
    return RateLimiter(rate, burst) if rate > 0 else None


class Clients:
    """The node's per-client state for HTTP: see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.trusted = settings.trusted_proxy_networks
        self.resolves = _limiter(settings.rate_limit_resolves, settings.rate_limit_resolves_burst)
        self.writes = _limiter(settings.rate_limit_writes, settings.rate_limit_writes_burst)

    def is_trusted_proxy(self, address: str) -> bool:
        if not self.trusted:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def channel(
        self, peer: str, encrypted: bool, forwarded_for: str | None = None, forwarded_proto: str | None = None
    ) -> Channel:
        """The client behind a connection from ``peer`` (its headers as sent, None when absent)."""
        if not self.is_trusted_proxy(peer):
            return Channel(peer, encrypted)
        client = peer
        for hop in reversed((forwarded_for or "").split(",")):
            if hop.strip():
                client = hop.strip()
                if not self.is_trusted_proxy(client):
                    break
        if forwarded_proto:
            encrypted = forwarded_proto.rpartition(",")[2].strip().lower() == "https"
        return Channel(client, encrypted)

    def limiter(self, method: str) -> RateLimiter | None:
        """The budget a request of ``method`` is counted against (None: unlimited)."""
        return self.writes if method in WRITE_METHODS else self.resolves

    def admit(self, limiter: RateLimiter | None, key: str) -> None:
        """Count one request of the client ``key``; raise RateLimited when it is over budget."""
        if limiter is None:
            return
        wait = limiter.wait(key, time.monotonic())
        if wait:
            raise self.refusal(key, wait)

    @staticmethod
    def refusal(key: str, wait: float) -> RateLimited:
        """The error for the client ``key``, whose next request fits its budget in ``wait`` seconds."""
        seconds = retry_after(wait)
        return RateLimited(seconds, f"Too many requests from {key}; retry in {seconds} s.")
