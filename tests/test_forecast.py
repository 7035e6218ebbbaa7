"""Target forecasts on synthetic series whose answers are known."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from idnode.forecast import cumulative, fitted_slope, needed_per_month, target_report

TODAY = date(2026, 11, 24)


def steady(per_day: int, days: int) -> dict[date, int]:
    return {TODAY - timedelta(days=n): per_day for n in range(days)}


def test_steady_rate_gives_the_same_answer_both_ways() -> None:
    report = target_report(steady(10, 120), registered=1000, target=3500, today=TODAY, deadline=None)
    assert report["progress"] == pytest.approx(1000 / 3500, abs=1e-4)
    for window in ("30", "90"):
        linear, trend = report["windows"][window]["linear"], report["windows"][window]["trend"]
        assert linear["per_day"] == pytest.approx(10) and trend["per_day"] == pytest.approx(10)
        assert linear["reaches_target_on"] == (TODAY + timedelta(days=250)).isoformat()
        assert trend["reaches_target_on"] == (TODAY + timedelta(days=250)).isoformat()
        assert linear["by_deadline"] is None
    assert report["windows"]["30"]["new"] == 300 and report["windows"]["90"]["new"] == 900


def test_deadline_missed_says_what_rate_is_needed() -> None:
    deadline = TODAY + timedelta(days=200)
    report = target_report(steady(10, 120), registered=1000, target=3500, today=TODAY, deadline=deadline)
    assert report["windows"]["30"]["linear"]["by_deadline"] is False
    assert report["needed_per_month"] == pytest.approx(2500 / 200 * 365.25 / 12, abs=0.1)
    assert not report["deadline_passed"]
    faster = target_report(steady(20, 120), registered=1000, target=3500, today=TODAY, deadline=deadline)
    assert faster["windows"]["30"]["linear"]["by_deadline"] is True


def test_no_registrations_never_reach_and_a_reached_target_is_today() -> None:
    stalled = target_report({}, registered=100, target=3500, today=TODAY, deadline=None)
    assert stalled["windows"]["90"]["linear"]["reaches_target_on"] is None
    assert stalled["windows"]["90"]["trend"]["per_day"] == 0
    done = target_report(steady(1, 10), registered=3600, target=3500, today=TODAY, deadline=TODAY)
    assert done["windows"]["30"]["linear"]["reaches_target_on"] == TODAY.isoformat()
    assert done["needed_per_month"] == 0 and not done["deadline_passed"]


def test_passed_deadline_and_empty_target() -> None:
    late = target_report(
        steady(5, 30), registered=10, target=3500, today=TODAY, deadline=TODAY - timedelta(1)
    )
    assert late["deadline_passed"] and late["needed_per_month"] is None
    assert needed_per_month(TODAY, 10, 3500, None) is None
    assert target_report({}, registered=0, target=0, today=TODAY, deadline=None)["progress"] is None


def test_trend_follows_an_accelerating_series_more_than_the_run_rate_lags() -> None:
    # registrations growing by one a day: 1, 2, ..., 90 (newest today)
    daily = {TODAY - timedelta(days=n): 90 - n for n in range(90)}
    report = target_report(daily, registered=sum(daily.values()), target=10_000, today=TODAY, deadline=None)
    window = report["windows"]["90"]
    assert window["linear"]["per_day"] == pytest.approx(sum(daily.values()) / 90)
    assert window["trend"]["per_day"] > window["linear"]["per_day"]  # the fitted line is steeper


def test_a_crawling_rate_is_not_a_date_in_the_far_future() -> None:
    report = target_report(
        {TODAY - timedelta(days=400): 1}, registered=1, target=3500, today=TODAY, deadline=None
    )
    assert report["windows"]["90"]["trend"]["reaches_target_on"] is None
    slow = target_report({TODAY: 1}, registered=1, target=10**9, today=TODAY, deadline=None)
    assert slow["windows"]["30"]["linear"]["reaches_target_on"] is None  # 3e10 days: beyond any horizon


def test_cumulative_and_slope_basics() -> None:
    start = TODAY - timedelta(days=2)
    assert cumulative({start: 2, TODAY: 3}, start, TODAY, before=5) == [7, 7, 10]
    assert fitted_slope([]) == 0 and fitted_slope([4]) == 0
    assert fitted_slope([0, 2, 4, 6]) == pytest.approx(2)
