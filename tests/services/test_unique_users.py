"""User creation is unique across service processes: two real `manhattan social serve`
processes over one cluster create the same names at the same moment, and for each name
exactly one creation succeeds (the profile is claimed by a SERIAL if_absent write)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from manhattan.errors import AlreadyExists
from manhattan.services.client import SocialClient
from manhattan.services.process import SocialProcess

NAMES = [f"uniq_{i}" for i in range(8)]


@pytest.fixture(scope="module")
def two_services(social_cluster) -> Iterator[list[SocialProcess]]:
    processes = [SocialProcess(social_cluster.data_dir, options=[
        "--namespace", "uniq", "--lease-validity", "1"],
        log_path=social_cluster.data_dir / f"social-uniq-{i}.log") for i in range(2)]
    try:
        for process in processes:
            process.start(timeout=90)
        yield processes
    finally:
        for process in processes:
            process.stop()


def _create(endpoint: str, token: str, name: str) -> str:
    with SocialClient(endpoint, token=token) as client:
        try:
            client.create_user(name)
        except AlreadyExists:
            return "exists"
        return "created"


def test_concurrent_creations_from_two_processes_succeed_exactly_once(two_services) -> None:
    endpoints = [p.address for p in two_services]
    token = two_services[0].api_token  # both keep the one in social.toml
    with ThreadPoolExecutor(len(NAMES) * 2) as pool:
        futures = {name: [pool.submit(_create, endpoint, token, name) for endpoint in endpoints]
                   for name in NAMES}
        outcomes = {name: sorted(f.result() for f in pair) for name, pair in futures.items()}
    assert all(pair == ["created", "exists"] for pair in outcomes.values()), outcomes
    # And afterwards both processes agree the name is taken.
    assert _create(endpoints[0], token, NAMES[0]) == "exists"
    assert _create(endpoints[1], token, NAMES[0]) == "exists"
