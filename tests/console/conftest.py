"""Fixtures of the console tests: headless Chromium through Selenium, and
``manhattan console`` as a child process (loopback, a free port, stopped by PID).

Chromium and chromedriver are Debian's packages (``.ci/run`` installs them when
missing); without them, or without selenium, the console tests skip."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from manhattan.node.process import free_port

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1400,1000"]
MANHATTAN = str(Path(sys.executable).with_name("manhattan"))
T = TypeVar("T")
CLICK_ATTEMPTS = 5


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the console tests cleanly where the browser is not installed."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        skip = pytest.mark.skip(reason=f"{', '.join(missing)} not installed "
                                       "(apt-get install chromium chromium-driver)")
        for item in items:
            if "tests/console/" in str(item.fspath).replace("\\", "/"):
                item.add_marker(skip)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def running_console(cluster_file: Path) -> Iterator[str]:
    """``manhattan console`` for the cluster of ``cluster_file``; yields its URL."""
    port = free_port()
    log_path = cluster_file.parent / "console.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([MANHATTAN, "--cluster-file", str(cluster_file), "console",
                                    "--listen", f"127.0.0.1:{port}"],
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the console did not serve within 30 s"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    """``predicate()``'s first truthy value, polled until ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def click(driver: Any, css: str) -> None:
    """Click the element ``css`` names, as a user would: scrolled into view, and again
    if the page re-rendered between aiming and clicking (the console refreshes its
    tables every few seconds, which moves what lies below them)."""
    from selenium.common.exceptions import ElementClickInterceptedException

    for attempt in range(CLICK_ATTEMPTS):
        element = driver.find_element("css selector", css)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        try:
            element.click()
            return
        except ElementClickInterceptedException:
            if attempt == CLICK_ATTEMPTS - 1:
                raise
            time.sleep(0.2)


def login(driver: Any, url: str, token: str) -> None:
    """Open the console and give it the admin token."""
    driver.get(url)
    driver.execute_script("sessionStorage.clear()")
    driver.get(url)
    driver.find_element("id", "token").send_keys(token)
    click(driver, "#login button")
    wait(lambda: driver.find_element("id", "main").is_displayed(), 30, "the console to open")


def submit(driver: Any, form: str, fields: dict[str, str]) -> tuple[str, str]:
    """Fill and submit a form; (message, error) once either appears."""
    driver.execute_script("document.querySelector('#message').textContent = '';"
                          "document.querySelector('#error').textContent = '';")
    for name, value in fields.items():
        element = driver.find_element("css selector", f"{form} [name={name}]")
        if element.tag_name != "select":
            element.clear()
        element.send_keys(value)
    click(driver, f"{form} button[type=submit]")

    def answered() -> tuple[str, str] | None:
        message = driver.find_element("id", "message").text
        error = driver.find_element("id", "error").text
        return (message, error) if message or error else None

    return wait(answered, 30, f"an answer to {form}")
