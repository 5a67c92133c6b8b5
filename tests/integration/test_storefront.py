"""The reference storefront in headless Chromium against the real stack: the banner follows the
visitor's segments, and changes without a reload when the change feed says so. Against a hung
Redis it fails open: the default page, at once."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings
from streams.storefront.content import DEFAULT
from tests.integration.harness import WorkerProcess, free_port, produce, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".segstream" / "screenshots"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(
            "needs Debian's chromium and chromium-driver (scripts/test.sh installs them when run "
            "as root; otherwise: apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1000,640")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def running_storefront(settings: Settings, log_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "storefront", "--port", str(port)],
            env={**os.environ, **settings.to_env()},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: _answers(url), timeout_s=30, what=f"the storefront at {url}")
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def storefront(settings: Settings, tmp_path: Path) -> Iterator[str]:
    with running_storefront(settings, tmp_path / "storefront.log") as url:
        yield url


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """A Redis that takes connections and never answers, like a redis-server stopped by SIGSTOP:
    the kernel completes each connection into the listen backlog, and nothing ever reads it."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


@pytest.fixture
def storefront_on_hung_redis(hung_redis: str, tmp_path: Path) -> Iterator[str]:
    settings = Settings(redis_url=hung_redis)
    with running_storefront(settings, tmp_path / "storefront.log") as url:
        yield url


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # loopback only
            return bool(response.status == 200)
    except OSError:
        return False


def purchase(n: int, total: str) -> dict[str, Any]:
    return {
        "type": "purchase",
        "event_id": f"shopper-{n}",
        "customer_id": "shopper",
        "ts": "2026-01-15T10:00:00Z",
        "order_id": f"o{n}",
        "total": total,
    }


def test_the_banner_changes_live_when_the_customer_enters_a_segment(
    settings: Settings, worker: WorkerProcess, storefront: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.get(f"{storefront}/?customer=shopper")
    wait = WebDriverWait(browser, 60, poll_frequency=0.2)
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-live") == "true")
    banner = browser.find_element(By.ID, "banner")
    wait.until(lambda d: banner.get_attribute("data-segment") == "" and "Welcome to" in banner.text)
    browser.save_screenshot(str(SCREENSHOTS / "storefront-before.png"))
    browser.execute_script("window.sameDocument = true;")  # gone if the page reloads

    produce(settings, [("shopper", purchase(1, "150.00"))])  # now a big spender
    wait.until(lambda d: banner.get_attribute("data-segment") == "big_spenders")
    assert banner.get_attribute("data-variant") == "treatment"
    assert "VIP" in browser.find_element(By.ID, "headline").text
    offers = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#offers li")]
    assert "Free express shipping" in offers
    assert browser.execute_script("return window.sameDocument === true;")
    status = browser.find_element(By.ID, "status").text
    assert "enter big_spenders (event)" in status
    path = SCREENSHOTS / "storefront-after.png"
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 0


def test_segments_of_a_hung_redis_answer_at_once_with_the_default_page(
    storefront_on_hung_redis: str,
) -> None:
    url = f"{storefront_on_hung_redis}/api/segments?customer=c0000003"
    # The server gives Redis half a second; the generous bound only keeps a broken server from
    # hanging the suite.
    with urllib.request.urlopen(url, timeout=60) as response:  # loopback only
        assert response.status == 200
        payload = json.load(response)
    assert payload["fallback"] is True
    assert payload["content"] == json.loads(json.dumps(asdict(DEFAULT)))
    assert payload["segments"] == {}


def test_the_page_shows_the_default_content_when_redis_hangs(
    storefront_on_hung_redis: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{storefront_on_hung_redis}/?customer=c0000003")
    wait = WebDriverWait(browser, 60, poll_frequency=0.2)
    banner = browser.find_element(By.ID, "banner")
    wait.until(lambda d: banner.get_attribute("data-fallback") == "true")
    assert browser.find_element(By.ID, "headline").text == DEFAULT.headline
    offers = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#offers li")]
    assert offers == list(DEFAULT.offers)
    assert "personalization unavailable" in browser.find_element(By.ID, "reason").text


def test_the_change_feed_of_a_hung_redis_says_it_is_unavailable(
    storefront_on_hung_redis: str,
) -> None:
    url = f"{storefront_on_hung_redis}/api/changes?customer=c0000003"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=60)  # loopback only; the page's EventSource retries
    assert refused.value.code == 503
