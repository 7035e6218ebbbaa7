"""Failed-login throttling: after too many failures an account, or a client, is refused for a while.

Failures are counted per account (``index:handle``) and per client address in fixed windows that
start at the first failure: once a key has ``limit`` failures, every attempt it takes part in is
refused (LoginThrottled, even with the right secret) until its window ends, and then it starts
afresh. Refused attempts are not checked and not counted, so a lock never outlives its window: an
attacker who keeps guessing can re-lock an account once per window, but never for good, and each
client address adds at most its own limit of failures to any account per window. A success clears
the account's count (not the client's: one valid login must not buy a client more guesses elsewhere).

Counts live in process memory: with ``--workers N`` each worker counts on its own, so a client may
make up to N times the limits before every worker refuses it. That keeps a failed login free of
database writes (which an attacker could otherwise use to load the store) at the cost of a weaker
bound when several processes serve.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from idnode.model.errors import LoginThrottled

MAX_TRACKED = 100_000  # keys remembered at most; beyond that the oldest are forgotten first


@dataclass(slots=True)
class _Window:
    ends: float
    failures: int


class FailureCounter:
    """Failures per key in fixed windows of ``window_seconds``; ``limit`` 0 counts nothing."""

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 if it may now)."""
        window = self._windows.get(key)
        if window is None or self.limit <= 0:
            return 0.0
        now = self._clock()
        if window.ends <= now:
            del self._windows[key]
            return 0.0
        return window.ends - now if window.failures >= self.limit else 0.0

    def fail(self, key: str) -> None:
        """Count one failure of ``key``."""
        if self.limit <= 0:
            return
        now = self._clock()
        window = self._windows.get(key)
        if window is None or window.ends <= now:
            if len(self._windows) >= MAX_TRACKED:
                self._forget(now)
            self._windows[key] = _Window(now + self.window_seconds, 1)
        else:
            window.failures += 1

    def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    def _forget(self, now: float) -> None:
        """Drop ended windows, and if that is not enough the oldest half (bounded memory under attack)."""
        for key in [k for k, w in self._windows.items() if w.ends <= now]:
            del self._windows[key]
        if len(self._windows) >= MAX_TRACKED:
            for key in list(self._windows)[: MAX_TRACKED // 2]:
                del self._windows[key]


class LoginThrottle:
    """The per-account and per-client failure limits every login (HTTP Basic, tokens, portal) passes."""

    def __init__(
        self,
        account_limit: int,
        client_limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = FailureCounter(account_limit, window_seconds, clock)
        self.clients = FailureCounter(client_limit, window_seconds, clock)

    def check(self, account: str | None, client: str | None) -> None:
        """Raise LoginThrottled if this account or client may not try now (``None``: not known)."""
        wait = max(
            self.accounts.retry_after(account) if account else 0.0,
            self.clients.retry_after(client) if client else 0.0,
        )
        if wait > 0:
            seconds = math.ceil(wait)
            raise LoginThrottled(seconds, f"Too many failed logins; try again in {seconds} s.")

    def failed(self, account: str | None, client: str | None) -> None:
        if account:
            self.accounts.fail(account)
        if client:
            self.clients.fail(client)

    def succeeded(self, account: str) -> None:
        self.accounts.clear(account)
