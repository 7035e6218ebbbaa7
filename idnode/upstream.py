"""Delivering the outbox to the upstream (top-level) node: in order, in signed batches, at least once.

One process of the node sends: the one holding the node lock ``upstream-sender`` (see
idnode/delivery.py, which also retries failures with backoff). It reads the oldest
undelivered reports (at most ``upstream_batch``), POSTs them as one batch message (idnode/outbox.py)
to ``upstream_url`` with a detached JWS over the exact body bytes, made with the node's active
signing key, in the ``X-JWS-Signature`` header (the JWS ``kid`` is the key's reference, e.g.
``301:0.NA/88.999``, as published at ``GET /api/node``), and marks delivered, in one statement, the
reports the answer lists as accepted.

A failure (no connection, no answer within ``upstream_timeout_seconds``, a status other than 2xx,
an answer that is no acknowledgement or leaves reports out) keeps the reports queued, and the next
attempt waits twice as long as the one before (from half a second, with jitter, at most
``upstream_max_backoff_seconds``). Reports are marked delivered only once acknowledged, so an
upstream that is down for hours gets everything when it is back, and a node that stops at any point
resends at most the batch it had in flight, under the same ids (``<node prefix>:<seq>``), for the
receiver to deduplicate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import orjson

from idnode.background import running
from idnode.config import Settings
from idnode.delivery import DeliveryFailed, deliver_forever
from idnode.keys import ActiveKey
from idnode.outbox import BadAcknowledgement, accepted_ids, batch_message, report_id
from idnode.signing import jws_sign_detached
from idnode.storage.repository import Repository

LOCK_NAME = "upstream-sender"
SIGNATURE_HEADER = "X-JWS-Signature"


class UpstreamSender:
    """Sends the outbox to ``settings.upstream_url``; see the module docstring."""

    def __init__(
        self,
        repository: Repository,
        settings: Settings,
        active_key: Callable[[], Awaitable[ActiveKey]],
        session: aiohttp.ClientSession,
    ) -> None:
        self.repository = repository
        self.url = settings.upstream_url
        self.node_prefix = settings.node_prefix_canonical
        self.batch_size = settings.upstream_batch
        self.max_backoff = settings.upstream_max_backoff_seconds
        self.active_key = active_key
        self.session = session

    async def deliver_batch(self) -> int:
        """Send the oldest undelivered reports as one batch; return how many there were (0: none).

        Raise DeliveryFailed unless the upstream acknowledged every one (those it did acknowledge are
        marked delivered all the same).
        """
        pending = await self.repository.pending_reports(self.batch_size)
        if not pending:
            return 0
        body = orjson.dumps(batch_message(self.node_prefix, pending))
        key = await self.active_key()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: jws_sign_detached(key.key.key, body, key.ref),
        }
        try:
            async with self.session.post(self.url, data=body, headers=headers) as response:
                answer = await response.read()
                if not 200 <= response.status < 300:
                    raise DeliveryFailed(f"{self.url} answered {response.status}: {answer[:200]!r}")
                accepted = accepted_ids(answer)
        except (aiohttp.ClientError, TimeoutError, BadAcknowledgement, DeliveryFailed) as exc:
            await self.repository.record_attempt([r.seq for r in pending], delivered=False)
            raise DeliveryFailed(str(exc) or type(exc).__name__) from exc
        done = [r.seq for r in pending if report_id(self.node_prefix, r.seq) in accepted]
        await self.repository.record_attempt(done, delivered=True)
        if len(done) < len(pending):
            await self.repository.record_attempt({r.seq for r in pending} - set(done), delivered=False)
            raise DeliveryFailed(f"{self.url} accepted {len(done)} of {len(pending)} reports")
        return len(pending)

    async def run(self) -> None:
        """Deliver while this process holds the sender lock, forever (cancel to stop)."""
        await deliver_forever(
            self.repository, LOCK_NAME, self.deliver_batch, self.batch_size, self.max_backoff, "upstream"
        )


@asynccontextmanager
async def sending_upstream(
    repository: Repository, settings: Settings, active_key: Callable[[], Awaitable[ActiveKey]]
) -> AsyncIterator[UpstreamSender]:
    """Run an UpstreamSender for the duration of the block."""
    timeout = aiohttp.ClientTimeout(total=settings.upstream_timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        sender = UpstreamSender(repository, settings, active_key, session)
        async with running(sender.run(), "idnode-upstream"):
            yield sender
