"""Fixtures of the CLI tests: the social service as a child process for the commands
that talk to it (on the services tests' session cluster, stopped by PID)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from manhattan.services.process import SocialProcess

_namespaces = itertools.count(1)


@pytest.fixture(scope="module")
def social_service(social_cluster) -> Iterator[SocialProcess]:
    """A social service whose celebrities are users with more than one follower, in a
    namespace of its own (a predecessor's worker-id lease must not hold it up)."""
    process = SocialProcess(social_cluster.data_dir, options=[
        "--celebrity-threshold", "1", "--namespace", f"clisocial{next(_namespaces)}"])
    process.start(timeout=90)
    try:
        # Serving can come before IDs: the worker-id lease may still be being taken.
        deadline = time.monotonic() + 30
        while CliRunner().invoke(cli, ["id", "next", "--social", process.address,
                                       "--social-token", process.api_token]).exit_code:
            assert time.monotonic() < deadline, "the social service issued no ID in 30 s"
            time.sleep(0.2)
        yield process
    finally:
        process.stop()
