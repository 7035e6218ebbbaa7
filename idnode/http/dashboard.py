"""The operator dashboard: one self-contained page (no external assets) drawn from the stats API.

The page is behind the same access rule as the statistics, so a browser asks for the operator's
credentials (user name ``300%3A0.NA/<node prefix>``) once and sends them with the page's own requests.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from idnode.http.stats import require_stats_reader

PAGE = (Path(__file__).parent / "static" / "dashboard.html").read_bytes()


async def get_dashboard(request: web.Request) -> web.Response:
    await require_stats_reader(request)
    return web.Response(body=PAGE, content_type="text/html", charset="utf-8")


routes = [web.get("/dashboard", get_dashboard)]
