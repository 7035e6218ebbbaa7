"""Registration statistics: enterprises against the target, identifiers registered, resolutions.

Everything is computed in SQL over small tables: enterprises (thousands of rows) and the counts every
write and every resolution flush keep per enterprise prefix (and day), never over the identifiers.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from idnode.config import Settings
from idnode.forecast import target_report
from idnode.model.application import State
from idnode.model.enterprise import EnterpriseStatus
from idnode.model.errors import ProtocolError
from idnode.storage.repository import UPSTREAM, Repository, today, utcnow

METRICS = ("enterprises", "identifiers", "resolutions")
INTERVALS = ("day", "month")
MAX_SERIES_DAYS = 3660


class Stats:
    """Aggregate figures computed in SQL."""

    def __init__(self, repository: Repository, settings: Settings) -> None:
        self.repository = repository
        self.target = settings.target_enterprises
        self.deadline = settings.target_deadline_date
        self.configured_districts = settings.districts
        self.quotas = settings.district_quotas

    async def summary(self) -> dict[str, Any]:
        """Enterprises (total, active, suspended), identifiers, resolutions, progress toward the target,
        and applications by state (not counted as enterprises until approved)."""
        by_status = await self.repository.enterprise_counts()
        applications = await self.repository.application_counts()
        resolved, resolved_today = await self.repository.resolution_totals(today())
        total = sum(by_status.values())
        return {
            "enterprises": {
                "total": total,
                "active": by_status.get(EnterpriseStatus.ACTIVE.value, 0),
                "suspended": by_status.get(EnterpriseStatus.SUSPENDED.value, 0),
            },
            "identifiers": await self.repository.count_identifiers(),
            "applications": {state.value: applications.get(state.value, 0) for state in State},
            "resolutions": {"total": resolved, "today": resolved_today},
            "target": {
                "enterprises": self.target,
                "registered": total,
                "progress": round(total / self.target, 4) if self.target else None,
            },
        }

    async def enterprise(self, prefix: str, days: int = 30) -> dict[str, Any]:
        """One enterprise's own figures: identifiers registered now, and identifiers created and
        resolutions per day over the last ``days`` days (every day listed, zeros included)."""
        end = today()
        start = end - timedelta(days=days - 1)
        created = await self.repository.daily_series("identifiers", start, end, prefix)
        resolved = await self.repository.daily_series("resolutions", start, end, prefix)
        dates = [start + timedelta(days=n) for n in range(days)]
        return {
            "prefix": prefix,
            "identifiers": await self.repository.count_identifiers(prefix),
            "days": [
                {"day": d.isoformat(), "created": created.get(d, 0), "resolutions": resolved.get(d, 0)}
                for d in dates
            ],
        }

    async def backlog(self, channel: str = UPSTREAM) -> dict[str, Any]:
        """Messages of an outbox channel not yet delivered (by default reports the upstream node has not
        acknowledged): how many, and how many seconds ago the oldest of them was queued (0 if none)."""
        pending, oldest = await self.repository.report_backlog(channel)
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        return {"pending": pending, "oldest_age_seconds": max(age, 0.0)}

    async def target_progress(self, on: date | None = None) -> dict[str, Any]:
        """Registered enterprises against the target: progress, run rates over the last 30 and 90 days,
        the linear and fitted-trend forecasts, and the monthly rate the deadline needs (see forecast)."""
        per_day = await self.repository.daily_series("enterprises", date.min, date.max)
        registered = sum(per_day.values())
        return target_report(per_day, registered, self.target, on or today(), self.deadline)

    async def districts(self) -> list[dict[str, Any]]:
        """Per district: enterprises, active, without identifiers, identifiers, resolutions, and the
        district's quota with its progress (None without one); every configured district is listed,
        those without enterprises with zeros."""
        rows = {row["name"]: row for row in await self.repository.breakdown("district")}
        empty = {"enterprises": 0, "active": 0, "without_identifiers": 0, "identifiers": 0, "resolutions": 0}
        listed = [rows.pop(name, {"name": name, **empty}) for name in self.configured_districts]
        listed += rows.values()  # districts no longer configured still count
        for row in listed:
            quota = self.quotas.get(row["name"])
            row["quota"] = quota
            row["quota_progress"] = round(row["enterprises"] / quota, 4) if quota else None
        return listed

    async def industries(self) -> list[dict[str, Any]]:
        """The same figures per industry, largest first."""
        return await self.repository.breakdown("industry")

    async def enterprises(self, limit: int) -> dict[str, list[dict[str, Any]]]:
        """The top ``limit`` enterprises by identifiers and by resolutions, and those registered but
        not using identifiers (none registered), oldest registration first within the limit."""
        return {
            "by_identifiers": await self.repository.enterprise_ranking("identifiers", limit),
            "by_resolutions": await self.repository.enterprise_ranking("resolutions", limit),
            "without_identifiers": await self.repository.enterprise_ranking(
                "identifiers", limit, unused_only=True
            ),
        }

    async def timeseries(
        self, metric: str, interval: str, start: date | None, end: date | None
    ) -> list[dict[str, Any]]:
        """New ``metric`` per ``interval`` from ``start`` to ``end`` (default: the last 365 days), every
        period listed (zeros included). ProtocolError for an unknown metric or interval, or a bad range."""
        if metric not in METRICS:
            raise ProtocolError(f"metric must be one of {', '.join(METRICS)}.")
        if interval not in INTERVALS:
            raise ProtocolError(f"interval must be one of {', '.join(INTERVALS)}.")
        end = end or today()
        start = start or end - timedelta(days=min(364, (end - date.min).days))  # not before year 1
        if start > end or (end - start).days > MAX_SERIES_DAYS:
            raise ProtocolError(f"Need from <= to, at most {MAX_SERIES_DAYS} days apart.")
        daily = await self.repository.daily_series(metric, start, end)
        series: dict[str, int] = {}
        for offset in range((end - start).days + 1):  # counted, so a series may end on date.max
            day = start + timedelta(days=offset)
            period = day.isoformat() if interval == "day" else day.isoformat()[:7]
            series[period] = series.get(period, 0) + daily.get(day, 0)
        return [{"period": period, "value": value} for period, value in series.items()]
