"""Prometheus metrics at ``/metrics`` (same access rule as the statistics).

The application's requests are counted by route, method and status, with latency histograms, in a
middleware. The fast path and the DNS listeners pay nothing per request for metrics: they keep plain
integer counts by status (``fastpath.RESPONSES``, ``dns.server.RESPONSES``) that are read, with the
resolution cache's figures (and a mirror's lag behind its primary), when Prometheus scrapes.
Enterprise, identifier and upstream-backlog gauges come from the statistics core at each scrape.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import dns.rcode
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from idnode.dns import server as dns_server
from idnode.http import fastpath
from idnode.http.keys import METRICS, MIRROR, RESOLVER, STATS
from idnode.http.stats import require_stats_reader
from idnode.mirror import MirrorStatus
from idnode.storage.repository import NOTIFY, UPSTREAM

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """One application's metrics, in a registry of its own."""

    def __init__(
        self,
        cache_figures: Callable[[], dict[str, int]],
        mirror_status: Callable[[], MirrorStatus | None],
    ) -> None:
        self.registry = CollectorRegistry()
        self.cache_figures = cache_figures  # the resolver's cache and counter, read at scrape time
        self.mirror_status = mirror_status  # a mirror's follower, read at scrape time
        self.requests = Counter(
            "idnode_http_requests",
            "Requests served by the web application, by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "idnode_http_request_duration_seconds",
            "Time to serve a web application request, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.gauges: dict[str, Any] = {}  # the statistics summary, read just before each scrape
        # the outbox backlogs (upstream reports, notifications), read just before each scrape
        self.backlogs: dict[str, dict[str, Any]] = {}
        self.registry.register(_ScrapeTimeCollector(self))


# The outbox channels' backlog gauges: channel, then (name, help) of the pending count and of the age
# of the oldest pending message.
BACKLOGS = (
    (
        UPSTREAM,
        ("idnode_upstream_pending_reports", "Reports the upstream node has not acknowledged yet."),
        (
            "idnode_upstream_oldest_pending_seconds",
            "Age of the oldest report the upstream node has not acknowledged (0 if none).",
        ),
    ),
    (
        NOTIFY,
        ("idnode_notifications_pending", "Application notifications not delivered yet."),
        (
            "idnode_notifications_oldest_pending_seconds",
            "Age of the oldest application notification not delivered yet (0 if none).",
        ),
    ),
)


class _ScrapeTimeCollector(Collector):
    """Figures read when Prometheus scrapes: the fast path, the cache, and the registration gauges."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        answers = CounterMetricFamily(
            "idnode_fastpath_responses",
            "Resolutions answered by the fast path, by status.",
            labels=["status"],
        )
        for status, count in sorted(fastpath.RESPONSES.items()):
            answers.add_metric([str(status)], count)
        yield answers
        dns_answers = CounterMetricFamily(
            "idnode_dns_responses",
            "DNS responses sent, by transport and RCODE.",
            labels=["transport", "rcode"],
        )
        for (transport, rcode), count in sorted(dns_server.RESPONSES.items()):
            dns_answers.add_metric([transport, dns.rcode.to_text(rcode)], count)
        yield dns_answers
        cache = self.metrics.cache_figures()
        yield CounterMetricFamily(
            "idnode_resolutions",
            "Resolutions of registered identifiers (this process).",
            value=cache["resolutions"],
        )
        yield CounterMetricFamily("idnode_cache_hits", "Resolution cache hits.", value=cache["hits"])
        yield CounterMetricFamily("idnode_cache_misses", "Resolution cache misses.", value=cache["misses"])
        yield GaugeMetricFamily(
            "idnode_cache_entries", "Answers in the resolution cache.", value=cache["entries"]
        )
        yield GaugeMetricFamily("idnode_cache_bytes", "Memory held by cached answers.", value=cache["bytes"])
        mirror = self.metrics.mirror_status()
        if mirror is not None:
            yield from _mirror_metrics(mirror)
        gauges = self.metrics.gauges
        if gauges:
            enterprises = GaugeMetricFamily(
                "idnode_enterprises", "Registered enterprises.", labels=["status"]
            )
            for status in ("active", "suspended"):
                enterprises.add_metric([status], gauges["enterprises"][status])
            yield enterprises
            yield GaugeMetricFamily(
                "idnode_identifiers", "Registered identifiers.", value=gauges["identifiers"]
            )
            applications = GaugeMetricFamily(
                "idnode_applications", "Enterprises' applications, by state.", labels=["state"]
            )
            for state, count in gauges["applications"].items():
                applications.add_metric([state], count)
            yield applications
        for channel, (pending, pending_help), (oldest, oldest_help) in BACKLOGS:
            backlog = self.metrics.backlogs.get(channel)
            if backlog:
                yield GaugeMetricFamily(pending, pending_help, value=backlog["pending"])
                yield GaugeMetricFamily(oldest, oldest_help, value=backlog["oldest_age_seconds"])


def _mirror_metrics(status: MirrorStatus) -> Iterator[Metric]:
    """A mirror's lag behind its primary (see ``idnode.mirror``)."""
    yield GaugeMetricFamily(
        "idnode_mirror_applied_entries", "Entries of the primary's log held here.", value=status.applied
    )
    yield GaugeMetricFamily(
        "idnode_mirror_primary_entries",
        "The primary's log size at the last poll that reached it.",
        value=status.primary,
    )
    yield GaugeMetricFamily(
        "idnode_mirror_lag_entries",
        "Entries the primary had logged that are not held here yet.",
        value=max(0, status.primary - status.applied),
    )
    lag = status.lag_seconds(time.time())
    if lag is not None:
        yield GaugeMetricFamily(
            "idnode_mirror_lag_seconds",
            "Age of the newest state of the primary known to be held here entirely.",
            value=lag,
        )
    yield CounterMetricFamily(
        "idnode_mirror_records_fetched", "Records fetched from the primary.", value=status.records_fetched
    )
    yield CounterMetricFamily(
        "idnode_mirror_failed_polls", "Polls of the primary that failed.", value=status.failed_polls
    )


def create_metrics(app: web.Application) -> Metrics:
    """Metrics for ``app`` (its resolver's cache is read once the app has started)."""

    def cache_figures() -> dict[str, int]:
        resolver = app[RESOLVER]
        cache, counter = resolver.cache, resolver.counter
        return {
            "hits": cache.hits,
            "misses": cache.misses,
            "entries": len(cache),
            "bytes": cache.bytes,
            "resolutions": counter.total if counter is not None else 0,
        }

    def mirror_status() -> MirrorStatus | None:
        follower = app.get(MIRROR)
        return follower.status if follower is not None else None

    return Metrics(cache_figures, mirror_status)


@web.middleware
async def metrics_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count and time every application request (outside the error middleware: final statuses)."""
    started = time.perf_counter()
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    metrics = request.app[METRICS]
    metrics.requests.labels(route, request.method, str(response.status)).inc()
    metrics.latency.labels(route).observe(time.perf_counter() - started)
    return response


async def get_metrics(request: web.Request) -> web.Response:
    await require_stats_reader(request)
    metrics = request.app[METRICS]
    metrics.gauges = await request.app[STATS].summary()
    metrics.backlogs = {channel: await request.app[STATS].backlog(channel) for channel in (UPSTREAM, NOTIFY)}
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


routes = [web.get("/metrics", get_metrics)]
