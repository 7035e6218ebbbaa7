"""Registration statistics: enterprises against the target, identifiers registered."""

from __future__ import annotations

from typing import Any

from idnode.model.enterprise import EnterpriseStatus
from idnode.storage.repository import Repository


class Stats:
    """Aggregate figures computed in SQL."""

    def __init__(self, repository: Repository, target_enterprises: int) -> None:
        self.repository = repository
        self.target = target_enterprises

    async def summary(self) -> dict[str, Any]:
        """Enterprises (total, active, suspended), identifiers, and progress toward the target."""
        by_status = await self.repository.enterprise_counts()
        total = sum(by_status.values())
        return {
            "enterprises": {
                "total": total,
                "active": by_status.get(EnterpriseStatus.ACTIVE.value, 0),
                "suspended": by_status.get(EnterpriseStatus.SUSPENDED.value, 0),
            },
            "identifiers": await self.repository.count_identifiers(),
            "target": {
                "enterprises": self.target,
                "registered": total,
                "progress": round(total / self.target, 4) if self.target else None,
            },
        }
