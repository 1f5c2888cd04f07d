"""The console's timeline explorer against a real social service: a user's home
timeline with each entry marked pushed (fanned out at post time) or merged (a
celebrity's tweet, merged at read)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from manhattan.services.process import SocialProcess
from tests.console.conftest import login, running_console, wait
from tests.services.conftest import social_cluster  # noqa: F401  (the cluster it runs on)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(social_cluster) -> Iterator[SocialProcess]:  # noqa: F811
    process = SocialProcess(social_cluster.data_dir, options=[
        "--celebrity-threshold", "1", "--lease-validity", "1", "--namespace", "consoletl"])
    process.start(timeout=90)
    try:
        yield process
    finally:
        process.stop()


def _cli(social_cluster, service, *args: str) -> str:  # noqa: F811
    result = CliRunner().invoke(cli, ["--cluster-file", str(social_cluster.data_dir /
                                                            "cluster.toml"),
                                      *args, "--social", service.address])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_explorer_marks_pushed_and_merged_entries(social_cluster, service,  # noqa: F811
                                                      browser):
    run = lambda *args: _cli(social_cluster, service, *args)  # noqa: E731
    for name in ("ann", "bert", "kate", "cleo"):
        run("user", "create", name)
    run("follow", "ann", "kate")
    run("follow", "cleo", "kate")        # kate: 2 followers, above the threshold of 1
    run("follow", "ann", "bert")         # bert: 1 follower, pushed to ann's timeline
    run("tweet", "post", "bert", "pushed by bert")
    run("tweet", "post", "kate", "merged from kate")
    wait(lambda: len(json.loads(run("timeline", "home", "ann", "-o", "json"))[0]["tweets"]) == 2,
         30, "both tweets in ann's home timeline")
    with running_console(social_cluster.data_dir / "cluster.toml") as url:
        login(browser, url, social_cluster.admin_token)
        assert browser.find_element("id", "timeline-panel").is_displayed()
        field = browser.find_element("css selector", "#timeline-form [name=user]")
        field.send_keys("ann")
        browser.find_element("css selector", "#timeline-form button").click()
        entries = wait(lambda: [e.text for e in browser.find_elements("css selector",
                                                                      "#timeline li")]
                       or None, 30, "ann's timeline on the page")
    assert len(entries) == 2, entries
    by_text = {("bert" if "bert" in e else "kate"): e for e in entries}
    assert by_text["bert"].startswith("pushed") and "pushed by bert" in by_text["bert"]
    assert by_text["kate"].startswith("merged") and "merged from kate" in by_text["kate"]
