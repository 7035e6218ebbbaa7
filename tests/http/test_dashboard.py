"""The dashboard in a real browser (Debian's headless Chromium driven by Selenium): the gauge, the
district chart and the trend are drawn with the right numbers for 0, 1 and 10,000 enterprises.
Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from idnode.model.enterprise import YANCHENG_DISTRICTS
from idnode.sample import make_uscc
from tests.conftest import Server, start_server, stop_server
from tests.http.conftest import ARTIFACTS, needs_browser

pytestmark = needs_browser


@pytest.fixture
def public_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("IDNODE_PUBLIC_STATS", "true")  # a browser without credentials may read the figures
    node = start_server(tmp_path / "node")
    try:
        yield node
    finally:
        stop_server(node)


def seed_enterprises(node: Server, count: int) -> None:
    """``count`` enterprises straight into the store (this test is about drawing them, not onboarding),
    spread over the districts and the last three years."""
    first = date.today() - timedelta(days=3 * 365)
    with sqlite3.connect(node.data_dir / "idnode.db") as db:
        db.executemany(
            "INSERT INTO enterprises (number, prefix, name, uscc, district, industry, contact_name,"
            " contact_phone, contact_email, status, registered_on, created_at, updated_at) VALUES"
            " (?, ?, ?, ?, ?, '通用设备制造业', '', '', '', 'active', ?, '2026-01-01', '2026-01-01')",
            [
                (
                    5000 + n,
                    f"88.999.{5000 + n}",
                    f"盐城批量企业{n}",
                    make_uscc(5000 + n),
                    YANCHENG_DISTRICTS[n % len(YANCHENG_DISTRICTS)],
                    (first + timedelta(days=n * 3 * 365 // count)).isoformat(),
                )
                for n in range(count)
            ],
        )


def show(browser: Any, node: Server, name: str) -> dict[str, Any]:
    """Load the dashboard, wait for its data, keep a screenshot, and read what it drew."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{node.url}/dashboard")
    WebDriverWait(browser, 20).until(
        lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-loaded")
    )
    status = browser.find_element(By.ID, "status").text
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true", status
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"dashboard-{name}.png"))

    def drawn(testid: str) -> list[Any]:
        return browser.find_elements(By.CSS_SELECTOR, f"[data-testid={testid}]")

    return {
        "percent": drawn("gauge-percent")[0].text,
        "count": drawn("gauge-count")[0].text,
        "bars": {
            b.get_attribute("data-district"): int(b.get_attribute("data-enterprises"))
            for b in drawn("district-bar")
        },
        "trend_last": [line.get_attribute("data-last") for line in drawn("trend-line")],
        "forecast_line": bool(drawn("forecast-line")),
        "forecast": drawn("forecast")[0].text,
    }


def test_dashboard_draws_0_1_and_10000_enterprises(public_node: Server, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    empty = show(browser, public_node, "0")
    assert empty["percent"] == "0.0%" and empty["count"] == "0 / 3,500"
    assert set(empty["bars"]) == set(YANCHENG_DISTRICTS) and not any(empty["bars"].values())
    assert empty["forecast_line"] and "无法达成" in empty["forecast"]

    seed_enterprises(public_node, 1)
    one = show(browser, public_node, "1")
    assert one["count"] == "1 / 3,500" and one["bars"][YANCHENG_DISTRICTS[0]] == 1
    assert one["trend_last"] == ["1"]

    with sqlite3.connect(public_node.data_dir / "idnode.db") as db:
        db.execute("DELETE FROM enterprises")
    seed_enterprises(public_node, 10_000)
    many = show(browser, public_node, "10000")
    assert many["count"] == "10,000 / 3,500" and many["percent"] == "100.0%"
    assert sum(many["bars"].values()) == 10_000 and many["trend_last"] == ["10000"]
    assert "已达成目标" in many["forecast"]

    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Identifier registration statistics"
    browser.save_screenshot(str(ARTIFACTS / "dashboard-10000-en.png"))


def test_dashboard_needs_the_operator_unless_public(sqlite_server: Server) -> None:
    response = requests.get(f"{sqlite_server.url}/dashboard", timeout=10)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Basic realm="handle"'
    user, secret = sqlite_server.operator
    ok = requests.get(
        f"{sqlite_server.url}/dashboard", auth=(user.replace(":", "%3A", 1), secret), timeout=10
    )
    assert ok.status_code == 200 and "<svg" in ok.text and "cdn" not in ok.text.lower()
