"""Fixtures of the CLI tests: the social service as a child process for the commands
that talk to it (on the services tests' session cluster, stopped by PID)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from manhattan.services.process import SocialProcess
from tests.services.conftest import social_cluster  # noqa: F401  (the cluster it runs on)


@pytest.fixture(scope="module")
def social_service(social_cluster) -> Iterator[SocialProcess]:  # noqa: F811
    """A social service whose celebrities are users with more than one follower."""
    process = SocialProcess(social_cluster.data_dir, options=[
        "--celebrity-threshold", "1", "--lease-validity", "1", "--namespace", "clisocial"])
    process.start(timeout=90)
    try:
        yield process
    finally:
        process.stop()
