"""The social service's commands at 80 columns: timelines wrap long tweets instead of
cutting them, one user or tweet or the service's stats read as ``key: value``
lines with units, -o json unchanged."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from tests.cli.conftest import social_service  # noqa: F401
from tests.cli.tables import read_table, same_text

LONG = ("a tweet long enough to need more than one line in an eighty column terminal, "
        "which the table wraps between words instead of cutting it short")


@pytest.fixture
def run(social_cluster, social_service):  # noqa: F811
    def invoke(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--cluster-file",
                                          str(social_cluster.data_dir / "cluster.toml"),
                                          *args, "--social", social_service.address],
                                    env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        assert "…" not in result.output
        assert all(len(line) <= 80 for line in result.output.splitlines()), result.output
        return result.output
    return invoke


def test_user_tweet_and_stats_print_as_key_value_lines(run):
    shown = run("user", "create", "tabby")
    assert [line.split(":")[0] for line in shown.splitlines()] == [
        "name", "created (UTC)", "followers", "following", "celebrity", "tweets"]
    posted = run("tweet", "post", "tabby", LONG)
    lines = posted.splitlines()
    assert lines[0].startswith("id:") and lines[1].startswith("author:")
    text_lines = [line for line in lines if not line.split(":")[0] in ("id", "author", "time")]
    assert same_text(" ".join(line.removeprefix("text:") for line in text_lines), LONG)
    stats = run("social", "stats")
    assert "fan-out lag (ms):" in stats and "celebrity above (followers):" in stats
    [raw] = json.loads(run("social", "stats", "-o", "json"))
    assert {"fanout_pending", "fanout_lag_ms", "celebrity_threshold"} <= set(raw)


def test_a_timeline_wraps_long_tweets(run):
    run("user", "create", "reader")
    run("user", "create", "writer")
    run("follow", "reader", "writer")
    run("tweet", "post", "writer", LONG)
    deadline = time.monotonic() + 30
    while "(no tweets)" in (text := run("timeline", "user", "writer")):  # delivered behind
        assert time.monotonic() < deadline, "the tweet never reached its author's timeline"
        time.sleep(0.2)
    [row] = read_table(text, ["id", "author", "text", "time"], title=True)
    assert row[1] == "writer" and same_text(row[2], LONG)
