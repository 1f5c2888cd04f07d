"""The web console end to end: a real three-node cluster (tests/conftest.py's, fast
failure detection), ``manhattan console`` as its own process, and headless Chromium (Debian's package) driven through Selenium and
Debian's chromedriver. Skips when they are not installed."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from manhattan.node.local_cluster import LocalCluster
from tests.console.conftest import MANHATTAN, login, running_console, submit, wait

# phi 8 at 0.5 s pings marks a silent peer down within a few seconds; the page also
# shows a node red as soon as it stops answering NodeInfo. Polls are 1 s apart.
DETECTOR_S = 15.0
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def console_url(cluster: LocalCluster) -> Iterator[str]:
    with running_console(cluster.data_dir / "cluster.toml") as url:
        yield url


def _node_classes(driver) -> dict[str, str]:
    # Read in one script: the page redraws the rows every second (no stale elements).
    return dict(driver.execute_script(
        "return Array.from(document.querySelectorAll('#nodes tbody tr'))"
        ".map(row => [row.id, row.className])"))


def _text(driver, selector: str) -> str:
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''",
        selector)


def test_the_api_needs_the_admin_token(console_url: str):
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        request = urllib.request.Request(console_url + "api/cluster", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401


def test_the_console_shows_the_cluster_creates_a_dataset_and_sees_a_node_die(
        cluster: LocalCluster, console_url: str, browser, tmp_path: Path):
    login(browser, console_url, cluster.admin_token)
    rows = wait(lambda: (lambda c: c if len(c) == 3 and all(v == "up" for v in c.values())
                          else None)(_node_classes(browser)), 60, "three nodes up")
    assert set(rows) == {"node-1", "node-2", "node-3"}
    arcs = browser.execute_script("return Array.from(document.querySelectorAll("
                                  "'#ring path.arc')).map(a => a.classList[1])")
    assert set(arcs) == {"node-1", "node-2", "node-3"}
    assert browser.find_element("id", "timeline-panel").is_displayed() is False

    # A tenant and a dataset made on the page, with the CLI's validation first.
    message, error = submit(browser, "#new-tenant", {"name": "console-t"})
    assert "created tenant console-t" in message and "mh_" in message, error
    message, error = submit(browser, "#new-dataset", {"name": "console-ds",
                                                       "tenant": "console-t",
                                                       "replication_factor": "-1"})
    assert error.startswith("Error: Invalid value for '--replication-factor'"), error
    message, error = submit(browser, "#new-dataset", {"name": "console-ds",
                                                       "tenant": "console-t",
                                                       "replication_factor": "3",
                                                       "write_consistency": "quorum"})
    assert "created dataset console-ds of tenant console-t" in message, error
    listed = subprocess.run([MANHATTAN, "--cluster-file", str(cluster.data_dir / "cluster.toml"),
                             "dataset", "list", "-o", "json"], capture_output=True, text=True,
                            timeout=60, check=True)
    assert ("console-ds", "console-t") in [(d["name"], d["tenant"])
                                           for d in json.loads(listed.stdout)]
    message, error = submit(browser, "#limits", {"name": "console-t",
                                                  "ops_per_second": "250"})
    assert "limits of tenant console-t set" in message, error
    wait(lambda: "250" in _text(browser, "#tenant-console-t"), 10,
          "the tenant's new limit on the page")
    assert "console-ds" in _text(browser, "#tenant-console-t")

    # A node killed turns red within the failure detector's time.
    cluster.node(3).kill()
    killed = time.monotonic()
    wait(lambda: _node_classes(browser).get("node-3") == "down", DETECTOR_S, "node 3 red")
    took = time.monotonic() - killed
    assert _node_classes(browser)["node-1"] == "up" and took < DETECTOR_S
    color = browser.execute_script(
        "return getComputedStyle(document.querySelector('#node-3 td')).backgroundColor")
    assert color.startswith("rgba(253, 226, 225") or color.startswith("rgb(253, 226, 225")
    browser.save_screenshot(str(tmp_path / "console.png"))
    assert (tmp_path / "console.png").stat().st_size > 10_000
