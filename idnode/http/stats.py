"""Registration statistics over HTTP: JSON, or CSV (``?format=csv``) for spreadsheets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from aiohttp import web

from idnode.csvout import flattened, to_csv
from idnode.http.auth import principal_of
from idnode.http.errors import json_response
from idnode.http.keys import REGISTRY, SETTINGS, STATS
from idnode.http.portal.pages import current_session
from idnode.model.errors import ProtocolError

RANKING_LIMIT = 20
STATS_MAX_AGE = 5  # seconds a browser may reuse a statistics answer


async def require_stats_reader(request: web.Request) -> None:
    """Aggregate figures are the operator's unless ``public_stats`` is set, or the node is a mirror:
    a mirror holds only what its primary serves to anyone, and has no operator. The operator is the
    Basic credential or a console session (so the console's link opens the dashboard); these are
    reads, so the session needs no CSRF token."""
    settings = request.app[SETTINGS]
    if not (settings.public_stats or settings.mirror_of):
        principal = await principal_of(request)
        if principal is None and (session := await current_session(request)) is not None:
            principal = session.principal
        request.app[REGISTRY].require_operator(principal)


def _csv(rows: Sequence[dict[str, Any]], filename: str) -> web.Response:
    return web.Response(
        body=to_csv(rows).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def _answer(
    request: web.Request, body: dict[str, Any], rows: Sequence[dict[str, Any]], name: str
) -> web.Response:
    """JSON (``body``), or ``rows`` as CSV when ``format=csv``."""
    wanted = request.query.get("format", "json")
    if wanted not in ("json", "csv"):
        raise ProtocolError("format must be json or csv.")
    response = _csv(rows, name) if wanted == "csv" else json_response({"responseCode": 1, **body})
    response.headers["Cache-Control"] = f"private, max-age={STATS_MAX_AGE}"  # a refresh storm reuses it
    return response


async def get_stats(request: web.Request) -> web.Response:
    await require_stats_reader(request)
    summary = await request.app[STATS].summary()
    return _answer(request, summary, flattened(summary), "summary")


async def get_target(request: web.Request) -> web.Response:
    await require_stats_reader(request)
    progress = await request.app[STATS].target_progress()
    return _answer(request, progress, flattened(progress), "target")


async def get_districts(request: web.Request) -> web.Response:
    await require_stats_reader(request)
    rows = await request.app[STATS].districts()
    return _answer(request, {"districts": rows}, rows, "districts")


async def get_industries(request: web.Request) -> web.Response:
    await require_stats_reader(request)
    rows = await request.app[STATS].industries()
    return _answer(request, {"industries": rows}, rows, "industries")


async def get_enterprises(request: web.Request) -> web.Response:
    await require_stats_reader(request)
    lists = await request.app[STATS].enterprises(RANKING_LIMIT)
    rows = [{"list": name, **row} for name, items in lists.items() for row in items]
    return _answer(request, lists, rows, "enterprises")


def _date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        raise ProtocolError(f"{name} must be a date like 2026-01-31.") from None


async def get_timeseries(request: web.Request) -> web.Response:
    await require_stats_reader(request)
    metric = request.query.get("metric", "enterprises")
    interval = request.query.get("interval", "month")
    series = await request.app[STATS].timeseries(
        metric, interval, _date(request, "from"), _date(request, "to")
    )
    return _answer(request, {"metric": metric, "interval": interval, "series": series}, series, metric)


routes = [
    web.get("/api/stats", get_stats),
    web.get("/api/stats/target", get_target),
    web.get("/api/stats/districts", get_districts),
    web.get("/api/stats/industries", get_industries),
    web.get("/api/stats/enterprises", get_enterprises),
    web.get("/api/stats/timeseries", get_timeseries),
]
