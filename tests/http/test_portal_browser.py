"""The self-service journey in a real browser (Debian's headless Chromium, tablet-sized): an
enterprise applies, the operator approves, the enterprise signs in, registers an identifier through
the template form, uploads a CSV with one bad row, reads the error report, and the identifier
resolves through the Handle REST API. Injected markup never runs (no alert), no page needs a script,
and no page is wider than the tablet. Screenshots: ``test-artifacts/portal-*.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Server
from tests.http.conftest import ARTIFACTS, needs_browser
from tests.http.portal_client import PNG, application_fields

pytestmark = needs_browser
PAYLOAD = '"><img src=x onerror=alert(1)><script>alert(1)</script>'
TABLET = (1024, 1366)  # a 12.9-inch tablet, portrait


class Journey:
    """Browser steps with a screenshot and the page checks after each one."""

    def __init__(self, browser: Any, node: Server) -> None:
        self.browser, self.node = browser, node
        browser.set_window_size(*TABLET)
        ARTIFACTS.mkdir(exist_ok=True)

    def open(self, path: str) -> None:
        self.browser.get(self.node.url + path)

    def fill(self, fields: dict[str, str]) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        for name, value in fields.items():
            element = self.browser.find_element(By.NAME, name)
            if element.tag_name == "select":
                Select(element).select_by_value(value)
            elif element.get_attribute("type") == "date":  # typed keys follow the locale's date order
                self.browser.execute_script("arguments[0].value = arguments[1]", element, value)
            else:
                element.clear()
                element.send_keys(value)

    def click(self, testid: str) -> None:
        """Click a button that sends a form, and wait for the next page."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.browser.find_element(By.TAG_NAME, "html")
        self.browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').click()

        def replaced(_: Any) -> bool:
            try:
                page.is_enabled()
            except WebDriverException:  # stale, or (chromedriver) "does not belong to the document"
                return True
            return False

        wait = WebDriverWait(self.browser, 60)
        wait.until(replaced)
        wait.until(lambda b: b.execute_script("return document.readyState") == "complete")  # images too

    def text(self, testid: str) -> str:
        """The text of an element, waiting for it (a streamed page may still be arriving)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        locator = (By.CSS_SELECTOR, f'[data-testid="{testid}"]')
        return (
            WebDriverWait(self.browser, 60)
            .until(expected_conditions.presence_of_element_located(locator))
            .text
        )

    def checked(self, name: str) -> None:
        """Screenshot the page, and check it: no alert, no script, nothing wider than the tablet."""
        from selenium.common.exceptions import NoAlertPresentException
        from selenium.webdriver.common.by import By

        self.browser.save_screenshot(str(ARTIFACTS / f"portal-{name}.png"))
        with pytest.raises(NoAlertPresentException):
            self.browser.switch_to.alert  # noqa: B018 - reading it is the check
        assert self.browser.find_elements(By.TAG_NAME, "script") == [], name
        width = self.browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert width <= 0, f"{name} is {width}px wider than the window"


def test_apply_approve_register_upload_resolve(browser: Any, sqlite_server: Server, tmp_path: Path) -> None:
    node, journey = sqlite_server, Journey(browser, sqlite_server)
    licence = tmp_path / "licence.png"
    licence.write_bytes(PNG)

    journey.open("/portal/apply")
    journey.checked("01-apply-form")
    journey.fill({**application_fields(name=f"盐城光伏{PAYLOAD}"), "licence": str(licence)})
    journey.click("submit-application")
    application_id = journey.text("application-id")
    journey.checked("02-applied")

    journey.open("/console/login")
    user, secret = node.operator
    journey.fill({"username": user, "secret": secret})
    journey.click("sign-in")
    journey.checked("03-review-queue")
    journey.open(f"/console/applications/{application_id}")
    assert (
        browser.execute_script("return document.querySelector('[data-testid=licence-image]').naturalWidth")
        == 1
    )
    journey.click("review")
    journey.checked("04-under-review")
    journey.click("approve")
    username, admin_secret = journey.text("admin-username"), journey.text("admin-secret")
    prefix = journey.text("admin-prefix")
    journey.checked("05-approved")
    journey.click("logout")

    journey.open("/portal/login")
    journey.fill({"username": username, "secret": admin_secret})
    journey.click("sign-in")
    journey.checked("06-signed-in")

    journey.open("/portal/register")
    journey.fill({"template": "solar-module@1"})
    journey.click("choose")
    form = {
        "suffix": "CS7N-2603180001234",
        "url": "https://example.com/modules/CS7N-2603180001234",
        "gs1": "(01)09506000134352(21)2603180001234",
        "m.manufacturer": PAYLOAD,
        "m.model": "CS7N-700TB-AG",
        "m.serialNumber": "CS7N2603180001234",
        "m.manufactureDate": "2026-03-18",
        "m.cellType": "TOPCon",
        "m.ratedPower": "-5",
        "m.dimensions": '{"length":2384,"width":1303,"thickness":33}',
        "m.weight": "37.8",
    }
    journey.fill(form)
    journey.click("save")
    assert journey.text("problem-m.ratedPower") == "-5 is less than the minimum of 0"
    journey.checked("07-form-error")
    journey.fill({"m.ratedPower": "700"})
    journey.click("save")
    handle = journey.text("handle")
    assert handle == f"{prefix}/CS7N-2603180001234" and journey.text("notice")
    for qr in ("qr-handle", "qr-gs1"):
        loaded = f"return document.querySelector('[data-testid={qr}]').naturalWidth"
        assert browser.execute_script(loaded) > 0, qr
    journey.checked("08-registered")

    csv_file = tmp_path / "modules.csv"
    csv_file.write_text(
        "后缀,网址,GS1\n"
        "CS7N-0001,https://example.com/m/1,\n"
        "CS7N-0002,https://example.com/m/2,(01)09506000134353\n"  # a wrong GS1 check digit
        "CS7N-0003,https://example.com/m/3,\n",
        encoding="utf-8",
    )
    journey.open("/portal/upload")
    journey.fill({"file": str(csv_file)})
    journey.click("start-upload")
    assert (journey.text("created"), journey.text("failed")) == ("2", "1")
    journey.checked("09-upload-result")
    report_url = browser.find_element("css selector", '[data-testid="report"]').get_attribute("href")
    report = browser.execute_async_script(
        "fetch(arguments[0]).then(r => r.text()).then(arguments[arguments.length - 1])", report_url
    )
    assert f"3,{prefix}/CS7N-0002,202," in report

    journey.open(f"/api/handles/{handle}")
    resolved = json.loads(browser.find_element("tag name", "body").text)
    values = {v["type"]: v["data"]["value"] for v in resolved["values"]}
    assert resolved["handle"] == handle and values["TEMPLATE"] == "solar-module@1"
    assert json.loads(values["METADATA"])["manufacturer"] == PAYLOAD  # stored as typed, shown inert
    browser.save_screenshot(str(ARTIFACTS / "portal-10-resolved.png"))
    assert requests.get(f"{node.url}/api/handles/{prefix}/CS7N-0001", timeout=10).status_code == 200

    journey.open(f"/portal/record?h={handle}")
    journey.checked("11-record-with-markup")
