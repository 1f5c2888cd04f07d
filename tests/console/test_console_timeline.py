"""The console's timeline explorer against a real social service: a user's home
timeline with each entry marked pushed (fanned out at post time) or merged (a
celebrity's tweet, merged at read)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from tests.cli.conftest import social_service  # noqa: F401
from tests.console.conftest import click, login, running_console, wait

pytestmark = pytest.mark.slow


def _cli(social_cluster, service, *args: str) -> str:  # noqa: F811
    result = CliRunner().invoke(cli, ["--cluster-file", str(social_cluster.data_dir /
                                                            "cluster.toml"),
                                      *args, "--social", service.address])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_explorer_marks_pushed_and_merged_entries(social_cluster, social_service,  # noqa: F811
                                                      browser):
    service = social_service
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
        click(browser, "#timeline-form button")
        entries = wait(lambda: [e.text for e in browser.find_elements("css selector",
                                                                      "#timeline li")]
                       or None, 30, "ann's timeline on the page")
    assert len(entries) == 2, entries
    by_text = {("bert" if "bert" in e else "kate"): e for e in entries}
    assert by_text["bert"].startswith("pushed") and "pushed by bert" in by_text["bert"]
    assert by_text["kate"].startswith("merged") and "merged from kate" in by_text["kate"]
