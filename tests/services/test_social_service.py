"""The social service as users meet it: a real `manhattan social serve` process, the SDK
and the CLI. A caller without the API token reaches nothing; bad input gets a precise
error and changes nothing; a killed service resumes its fan-out (same token); two
generators never hold one worker id."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator

import grpc
import pytest
from click.testing import CliRunner

from manhattan.cli.main import cli
from manhattan.client import (
    AlreadyExists, AsyncClient, Client, InvalidRequest, ManhattanError, NotFound,
    Unauthenticated,
)
from manhattan.proto.v1 import social_pb2, social_pb2_grpc
from manhattan.services.client import SocialClient
from manhattan.services.ids import LeasedIdGenerator, NoWorkerId
from manhattan.services.leases import Lease, LeaseTiming, wall_ms
from manhattan.services.process import SocialProcess
from manhattan.services.server import social_api_token, write_social_file
from manhattan.services.schema import Datasets
from manhattan.services.snowflake import decode
from tests.clusters import eventually
from tests.services.conftest import FAST_LEASES, fresh_config


@pytest.fixture(scope="module")
def service(social_cluster) -> Iterator[SocialProcess]:
    process = SocialProcess(social_cluster.data_dir, options=["--celebrity-threshold", "3",
                                                              "--fanout-batch", "5",
                                                              "--lease-validity", "1"])
    process.start(timeout=90)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(service) -> Iterator[SocialClient]:
    with SocialClient(service.address, token=service.api_token) as social:
        yield social


def test_the_api_token_is_the_given_one_else_the_saved_one_else_a_new_one(tmp_path):
    with pytest.raises(ValueError, match="at least 16 characters"):
        social_api_token(tmp_path, "short")
    assert social_api_token(tmp_path, "g" * 16) == "g" * 16
    first, second = social_api_token(tmp_path), social_api_token(tmp_path)
    assert len(first) >= 40 and first != second  # nothing saved yet: a new one each time
    write_social_file(tmp_path, "127.0.0.1:1", "tenant-token", first)
    assert social_api_token(tmp_path) == first  # saved: kept across restarts
    assert social_api_token(tmp_path, "g" * 16) == "g" * 16  # a given one wins


def test_a_call_without_the_api_token_is_refused_and_changes_nothing(social_cluster, service):
    for token in ("wrong-token", service.api_token + "x"):
        with SocialClient(service.address, token=token) as intruder:
            with pytest.raises(Unauthenticated, match="wrong social API token"):
                intruder.create_user("intruder")
            with pytest.raises(Unauthenticated):
                intruder.user("alice")  # reads too
    with grpc.insecure_channel(service.address) as channel:  # no token at all
        with pytest.raises(grpc.RpcError) as refused:
            social_pb2_grpc.SocialStub(channel).CreateUser(
                social_pb2.CreateUserRequest(name="intruder"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "missing social API token" in refused.value.details()
    with SocialClient(service.address, token=service.api_token) as social:
        with pytest.raises(NotFound):
            social.user("intruder")
    with pytest.raises(ValueError, match="API token"):
        SocialClient(service.address, token="")
    # The CLI takes it from social.toml; a wrong one given is refused with the reason.
    result = CliRunner().invoke(cli, ["--cluster-file", str(social_cluster.data_dir /
                                                            "cluster.toml"),
                                      "user", "show", "alice", "--social-token", "nope"])
    assert result.exit_code != 0 and "wrong social API token" in result.output


def _cli(local, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--cluster-file", str(local.data_dir / "cluster.toml"),
                                      *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_round_trip(social_cluster, service):
    for name in ("cli_ann", "cli_ben"):
        assert json.loads(_cli(social_cluster, "user", "create", name, "-o", "json"))[0][
            "name"] == name
    assert json.loads(_cli(social_cluster, "follow", "cli_ann", "cli_ben", "-o", "json"))[0][
        "changed"] is True
    posted = json.loads(_cli(social_cluster, "tweet", "post", "cli_ben", "hello from the CLI",
                             "-o", "json"))[0]
    shown = json.loads(_cli(social_cluster, "tweet", "get", str(posted["id"]), "-o", "json"))
    assert shown[0]["text"] == "hello from the CLI"

    def delivered() -> bool:
        page = json.loads(_cli(social_cluster, "timeline", "home", "cli_ann", "-o", "json"))[0]
        return [t["id"] for t in page["tweets"]] == [posted["id"]]
    assert eventually(delivered, timeout=30)
    assert "hello from the CLI" in _cli(social_cluster, "timeline", "user", "cli_ben")
    followers = json.loads(_cli(social_cluster, "followers", "cli_ben", "-o", "json"))[0]
    assert followers["users"] == ["cli_ann"] and followers["total"] == 1
    ids = [row["id"] for row in json.loads(_cli(social_cluster, "id", "next", "-n", "3",
                                                "-o", "json"))]
    assert len(set(ids)) == 3 and ids == sorted(ids)
    decoded = json.loads(_cli(social_cluster, "id", "decode", str(ids[0]), "-o", "json"))[0]
    assert decoded["worker"] == decode(ids[0]).worker
    assert "fanout_pending" in _cli(social_cluster, "social", "stats", "-o", "json")
    _cli(social_cluster, "tweet", "delete", str(posted["id"]))
    assert eventually(lambda: json.loads(_cli(social_cluster, "timeline", "home", "cli_ann",
                                              "-o", "json"))[0]["tweets"] == [], timeout=30)


def test_cli_without_a_service_says_how_to_find_one(tmp_path):
    result = CliRunner().invoke(cli, ["--cluster-file", str(tmp_path / "cluster.toml"),
                                      "timeline", "home", "alice"])
    assert result.exit_code != 0
    assert "MANHATTAN_SOCIAL" in result.output


@pytest.mark.parametrize("text, error", [
    ("", "empty"),
    ("   \n", "empty"),
    ("x" * 281, "281 characters; the limit is 280"),
    ("a\x00b", "NUL"),
])
def test_bad_tweets_are_rejected_and_change_nothing(client, text, error):
    name = f"bad{abs(hash(text)) % 10**6}"
    client.create_user(name)
    with pytest.raises(InvalidRequest, match=error):
        client.post(name, text)
    assert client.user_timeline(name).tweets == []


def test_limits_count_code_points(client):
    client.create_user("emoji")
    text = "🐦" * 280  # 280 code points, 1,120 bytes
    assert client.post("emoji", text).text == text


@pytest.mark.parametrize("call, error, match", [
    (lambda c: c.post("nobody_here", "hi"), NotFound, "user 'nobody_here' does not exist"),
    (lambda c: c.follow("val_a", "val_a"), InvalidRequest, "cannot follow themselves"),
    (lambda c: c.follow("val_a", "ghost"), NotFound, "user 'ghost' does not exist"),
    (lambda c: c.create_user("Not Valid!"), InvalidRequest, "invalid"),
    (lambda c: c.create_user("val_a"), AlreadyExists, "exists already"),
    (lambda c: c.home("val_a", cursor=b"junk"), InvalidRequest, "cursor"),
    (lambda c: c.home("val_a", limit=100_000), InvalidRequest, "limit"),
    (lambda c: c.tweet(0), InvalidRequest, "not a tweet id"),
    (lambda c: c.tweet(12345), NotFound, "does not exist"),
    (lambda c: c.post("val_a", "re", reply_to=999), NotFound, "tweet 999 does not exist"),
    (lambda c: c.next_ids(5000), InvalidRequest, "4096"),
    (lambda c: c.home("ghost"), NotFound, "does not exist"),
])
def test_bad_requests_get_precise_errors(client, call, error, match):
    with contextlib.suppress(AlreadyExists):
        client.create_user("val_a")
    with pytest.raises(error, match=match):
        call(client)
    assert client.user("val_a").following == 0


def test_garbage_bytes_get_invalid_argument(service):
    with grpc.insecure_channel(service.address) as channel:
        method = channel.unary_unary("/manhattan.v1.Social/PostTweet")
        with pytest.raises(grpc.RpcError) as caught:
            method(b"\xff\xff\xff\x0f", timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_killed_service_resumes_fanout(social_cluster, service, client):
    client.create_user("kill_star")
    names = [f"kill_f{i}" for i in range(120)]
    for name in names:
        client.create_user(name)
    _bulk_follow(social_cluster, service, names, "kill_star")
    tweet = client.post("kill_star", "survive the crash")
    token = service.api_token
    service.kill()  # mid fan-out, or before it started: either way it must finish
    service.start(timeout=90)
    assert service.api_token == token  # kept across restarts (social.toml)
    with SocialClient(service.address, token=token) as fresh:
        assert eventually(lambda: fresh.stats().fanout_pending == 0, timeout=60)
        for name in names:
            assert [t.id for t in fresh.home(name).tweets] == [tweet.id], name


def test_a_paused_fanout_takes_posts_and_delivers_them_once_resumed(social_cluster, service,
                                                                    client):
    client.create_user("pause_author")
    client.create_user("pause_reader")
    client.follow("pause_reader", "pause_author")
    assert "fan-out paused" in _cli(social_cluster, "social", "fanout", "pause")
    try:
        stats = client.stats()
        assert stats.fanout_paused
        tweet = client.post("pause_author", "held back")  # acknowledged while paused
        assert eventually(lambda: client.stats().fanout_pending >= 1, timeout=10)
        assert client.home("pause_reader").tweets == []  # not delivered, nor lost
    finally:
        assert "fan-out running" in _cli(social_cluster, "social", "fanout", "resume")
    assert not client.stats().fanout_paused
    assert eventually(lambda: [t.id for t in client.home("pause_reader").tweets] == [tweet.id],
                      timeout=30)


def _bulk_follow(local, service, followers: list[str], followee: str) -> None:
    """Edges written like Graph.follow does, but in bulk (120 follows through the API make
    the test slow, not better). The celebrity threshold (3) is bypassed on purpose: counts
    are left alone, so the followee is pushed, not merged."""
    from manhattan.client import Client, Put
    from manhattan.services.server import read_social_file
    token = read_social_file(local.data_dir / "social.toml")["token"]
    datasets = Datasets("social")
    with Client(local.endpoints, token=token) as store:
        store.dataset(datasets.following).put_many([Put(f, followee, b"") for f in followers])
        store.dataset(datasets.followers).put_many([Put(followee, f, b"") for f in followers])


def test_two_generators_never_hold_one_worker_id(social_cluster, loop_thread):
    config = fresh_config()
    datasets = Datasets(config.namespace)

    async def scenario() -> tuple[int, str, int]:
        async with AsyncClient(social_cluster.endpoints, token=social_cluster.admin_token) as c:
            from manhattan.services.social import ensure_schema
            await ensure_schema(c, config)
            leases = c.dataset(datasets.leases)
            first = LeasedIdGenerator(leases, 1, timing=FAST_LEASES, worker=5)
            second = LeasedIdGenerator(leases, 1, timing=FAST_LEASES, worker=5)
            await first.start()
            try:
                await second.start()
                outcome = "second also got it"
            except NoWorkerId:
                outcome = "refused"
            last_first = await first.next_id()
            await first.stop()
            await second.start()  # released: now it may have it
            next_second = await second.next_id()
            await second.stop()
            return last_first, outcome, next_second

    last_first, outcome, next_second = loop_thread.run(scenario())
    assert outcome == "refused"
    assert next_second > last_first  # the mark carried over: no ID reissued


def test_a_failed_renewal_keeps_the_lease_until_its_validity_ends(social_cluster, loop_thread):
    """Renewals that fail (here: the holder's token is revoked, so every node refuses it)
    keep the lease exactly as long as it was confirmed for, then drop it."""
    config = fresh_config()
    datasets = Datasets(config.namespace)
    timing = LeaseTiming(ttl_ms=15_000, validity_ms=5_000)
    with Client(social_cluster.endpoints, token=social_cluster.admin_token) as admin:
        loop_thread.run(_ensure_schema(social_cluster, config))
        token, info = admin.admin.create_token(config.tenant)

    async def scenario() -> tuple[bool, int, bool, int]:
        async with AsyncClient(social_cluster.endpoints, token=token) as c:
            lease = Lease(c.dataset(datasets.leases), "renewal-test", timing=timing)
            for _ in range(5):  # a fresh token may take a moment to reach every node
                if await lease.try_acquire():
                    break
                await asyncio.sleep(0.5)
            assert lease.held
            valid_until = lease.valid_until_ms
            with Client(social_cluster.endpoints, token=social_cluster.admin_token) as admin:
                admin.admin.revoke_token(info.token_id)
            await _until_refused(c.dataset(datasets.leases))
            kept = await lease.renew() if wall_ms() < valid_until else True
            failed = lease.failed_renewals
            await asyncio.sleep(max(0.0, (valid_until - wall_ms()) / 1000) + 0.05)
            return kept, failed, await lease.renew(), lease.losses

    kept, failed, after_expiry, losses = loop_thread.run(scenario())
    assert kept and failed >= 1          # refused, but still inside its validity: held
    assert not after_expiry and losses == 1  # past valid_until: dropped


async def _ensure_schema(cluster, config) -> None:
    from manhattan.services.social import ensure_schema
    async with AsyncClient(cluster.endpoints, token=cluster.admin_token) as c:
        await ensure_schema(c, config)


async def _until_refused(dataset, timeout: float = 10.0) -> None:
    """Wait until every node refuses the revoked token (revocation spreads within
    seconds; reads rotate over the replicas, so several refusals in a row cover them)."""
    deadline = asyncio.get_running_loop().time() + timeout
    refusals = 0
    while asyncio.get_running_loop().time() < deadline and refusals < 6:
        try:
            await dataset.get("renewal-test")
            refusals = 0
        except ManhattanError:
            refusals += 1
        await asyncio.sleep(0.05)
    if refusals < 6:
        raise AssertionError("the revoked token was still accepted")
