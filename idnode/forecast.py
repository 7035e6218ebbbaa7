"""Progress toward the registered-enterprise target: run rates and when the target will be reached.

Two forecasts from the cumulative daily series of registered enterprises:
- ``linear``: the run rate of the last ``window`` days (new registrations per day), extended from today;
- ``trend``: a least-squares straight line fitted to the cumulative counts of the last ``window`` days
  (robust to one busy day at the edge of the window), extended until it crosses the target.
When the target cannot be reached by the deadline at a rate, the answer says how many registrations a
month would be needed from now on instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

DAYS_PER_MONTH = 365.25 / 12
HORIZON_DAYS = 100 * 365  # a forecast further out than this is "not at this rate"


@dataclass(frozen=True)
class Forecast:
    """When ``target`` is reached at one rate (None: never at this rate)."""

    method: str
    per_day: float
    reaches_target_on: date | None
    by_deadline: bool | None  # None when there is no deadline

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "per_day": round(self.per_day, 3),
            "per_month": round(self.per_day * DAYS_PER_MONTH, 1),
            "reaches_target_on": self.reaches_target_on.isoformat() if self.reaches_target_on else None,
            "by_deadline": self.by_deadline,
        }


def cumulative(daily_new: dict[date, int], start: date, end: date, before: int = 0) -> list[int]:
    """Cumulative counts for each day from ``start`` to ``end`` inclusive, ``before`` registered earlier."""
    out, total = [], before
    day = start
    while day <= end:
        total += daily_new.get(day, 0)
        out.append(total)
        day += timedelta(days=1)
    return out


def fitted_slope(series: Sequence[int]) -> float:
    """Least-squares slope (per day) of ``series`` against day number; 0 for fewer than two points."""
    n = len(series)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(series) / n
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(series))
    variance = sum((x - mean_x) ** 2 for x in range(n))
    return covariance / variance


def _reach(today: date, registered: int, target: int, per_day: float) -> date | None:
    if registered >= target:
        return today
    days = math.ceil((target - registered) / per_day) if per_day > 0 else math.inf
    return None if days > HORIZON_DAYS else today + timedelta(days=days)


def forecast(
    method: str, per_day: float, today: date, registered: int, target: int, deadline: date | None
) -> Forecast:
    reached = _reach(today, registered, target, per_day)
    by_deadline = None if deadline is None else reached is not None and reached <= deadline
    return Forecast(method, per_day, reached, by_deadline)


def needed_per_month(today: date, registered: int, target: int, deadline: date | None) -> float | None:
    """Registrations a month needed from today to reach ``target`` by ``deadline`` (None: no deadline;
    0 once reached; infinity when the deadline has passed unmet)."""
    if deadline is None:
        return None
    missing = max(0, target - registered)
    if missing == 0:
        return 0.0
    days = (deadline - today).days
    return math.inf if days <= 0 else missing / days * DAYS_PER_MONTH


def target_report(
    daily_new: dict[date, int],
    registered: int,
    target: int,
    today: date,
    deadline: date | None,
    windows: Sequence[int] = (30, 90),
) -> dict[str, Any]:
    """Progress, run rates over ``windows`` days, both forecasts per window, and the monthly rate needed.

    ``daily_new`` maps days to enterprises registered that day; ``registered`` is today's total.
    """
    needed = needed_per_month(today, registered, target, deadline)
    report: dict[str, Any] = {
        "target": target,
        "registered": registered,
        "progress": round(registered / target, 4) if target else None,
        "deadline": deadline.isoformat() if deadline else None,
        "needed_per_month": None if needed is None or math.isinf(needed) else round(needed, 1),
        "deadline_passed": deadline is not None and today > deadline and registered < target,
        "windows": {},
    }
    for window in windows:
        start = today - timedelta(days=window - 1)
        new_in_window = sum(n for day, n in daily_new.items() if start <= day <= today)
        series = cumulative(daily_new, start, today, registered - new_in_window)
        run_rate = new_in_window / window
        report["windows"][str(window)] = {
            "new": new_in_window,
            "linear": forecast("linear", run_rate, today, registered, target, deadline).to_json(),
            "trend": forecast("trend", fitted_slope(series), today, registered, target, deadline).to_json(),
        }
    return report
