"""Per-client request budgets: a token bucket per client address.

Each client may make ``burst`` requests at once and ``rate`` per second after that. State is in
memory, per process: with ``workers`` N each worker keeps its own buckets, so a client spread over N
workers may get up to N times the budget (the kernel spreads connections, not clients). Clients
whose bucket is full again are forgotten, so memory follows the clients active in the last
``burst / rate`` seconds. IPv6 clients are counted per /64, the block one subscriber usually holds.
"""

from __future__ import annotations

import ipaddress
import math

PRUNE_EVERY = 10_000  # new clients between sweeps of the forgotten ones


def client_key(address: str) -> str:
    """The key a client's budget is kept under: its IPv4 address, or its IPv6 /64."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address.partition("%")[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


class RateLimiter:
    """Token buckets of ``burst`` tokens refilled at ``rate`` per second, one per client key."""

    __slots__ = ("buckets", "burst", "new_clients", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.buckets: dict[str, list[float]] = {}  # key → [tokens, when last counted]
        self.new_clients = 0

    def wait(self, key: str, now: float) -> float:
        """Take one token for ``key`` at ``now`` (monotonic seconds): 0.0 if there was one, else the
        seconds until there will be (nothing taken)."""
        bucket = self.buckets.get(key)
        if bucket is None:
            self._forget_full(now)
            self.buckets[key] = [self.burst - 1.0, now]
            return 0.0
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        self.new_clients += 1
        if self.new_clients < PRUNE_EVERY:
            return
        self.new_clients = 0
        full = [
            k for k, (tokens, then) in self.buckets.items() if tokens + (now - then) * self.rate >= self.burst
        ]
        for key in full:
            del self.buckets[key]


def retry_after(seconds: float) -> int:
    """Whole seconds for a Retry-After header (at least 1)."""
    return max(1, math.ceil(seconds))
