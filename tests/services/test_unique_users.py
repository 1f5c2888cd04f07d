"""User creation and follows are exact across service processes: two real `manhattan
social serve` processes over one cluster create the same names at the same moment, and
for each name exactly one creation succeeds (the profile is claimed by a SERIAL if_absent
write); they make the same follows and unfollows at the same moment, and each changes
(and is counted) exactly once (edges change by compare-and-set)."""

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


def _follow(endpoint: str, token: str, follow: bool, follower: str, followee: str) -> bool:
    with SocialClient(endpoint, token=token) as client:
        if follow:
            return client.follow(follower, followee)
        return client.unfollow(follower, followee)


def test_the_same_follow_from_two_processes_changes_and_counts_once(two_services) -> None:
    endpoints = [p.address for p in two_services]
    token = two_services[0].api_token
    star, fans = "uniq_star", [f"uniq_fan_{i}" for i in range(6)]
    for name in (star, *fans):
        _create(endpoints[0], token, name)
    with SocialClient(endpoints[0], token=token) as client:
        before = client.user(star).followers
        following = {fan: client.user(fan).following for fan in fans}
    for follow in (True, False):  # every fan follows twice at once, then unfollows so
        with ThreadPoolExecutor(len(fans) * 2) as pool:
            changed = {fan: [pool.submit(_follow, endpoint, token, follow, fan, star)
                             for endpoint in endpoints] for fan in fans}
            outcomes = {fan: sorted(f.result() for f in pair) for fan, pair in changed.items()}
        # A follow: exactly one says it made it (each edge holds its own claim). An
        # unfollow whose compare-and-set met the other one's may not know which of the
        # two removed the edge, and says so as True; either way it is counted once.
        assert all(pair == [False, True] if follow else True in pair
                   for pair in outcomes.values()), outcomes
        with SocialClient(endpoints[1], token=token) as client:
            assert client.user(star).followers == before + (len(fans) if follow else 0)
            assert {fan: client.user(fan).following for fan in fans} == \
                {fan: n + (1 if follow else 0) for fan, n in following.items()}
            assert all(client.user(fan).following == (1 if follow else 0) for fan in fans)
