"""Registration statistics: enterprises against the target, identifiers registered."""

from __future__ import annotations

from datetime import date
from typing import Any

from idnode.forecast import target_report
from idnode.model.enterprise import EnterpriseStatus
from idnode.storage.repository import Repository, today


class Stats:
    """Aggregate figures computed in SQL."""

    def __init__(self, repository: Repository, target_enterprises: int, deadline: date | None) -> None:
        self.repository = repository
        self.target = target_enterprises
        self.deadline = deadline

    async def target_progress(self, on: date | None = None) -> dict[str, Any]:
        """Registered enterprises against the target: progress, run rates over the last 30 and 90 days,
        the linear and fitted-trend forecasts, and the monthly rate the deadline needs (see forecast)."""
        per_day = await self.repository.enterprises_per_day()
        registered = sum(per_day.values())
        return target_report(per_day, registered, self.target, on or today(), self.deadline)

    async def summary(self) -> dict[str, Any]:
        """Enterprises (total, active, suspended), identifiers, and progress toward the target."""
        by_status = await self.repository.enterprise_counts()
        resolved, resolved_today = await self.repository.resolution_totals(today())
        total = sum(by_status.values())
        return {
            "enterprises": {
                "total": total,
                "active": by_status.get(EnterpriseStatus.ACTIVE.value, 0),
                "suspended": by_status.get(EnterpriseStatus.SUSPENDED.value, 0),
            },
            "identifiers": await self.repository.count_identifiers(),
            "resolutions": {"total": resolved, "today": resolved_today},
            "target": {
                "enterprises": self.target,
                "registered": total,
                "progress": round(total / self.target, 4) if self.target else None,
            },
        }
