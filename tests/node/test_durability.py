"""Acknowledged writes survive SIGKILL and SIGTERM; a data dir keeps its node identity."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import signal

import pytest

from manhattan.client import AsyncClient, Cancelled, ConnectionLost, Durability, Unavailable
from manhattan.node.process import NodeProcess, free_port

WRITES = 10_000
CONCURRENCY = 32
BATCH = 1000


def key(i: int) -> tuple[bytes, bytes]:
    # 97 pkeys so that records spread over the ring, several lkeys each
    return b"user-%02d" % (i % 97), b"%06d" % i


def value(i: int) -> bytes:
    return b"value-%d-" % i + bytes([i % 251]) * (i % 64)


async def write_all(endpoint: str, token: str, dataset: str, count: int,
                    durability: Durability = Durability.DEFAULT) -> set[int]:
    """``count`` individual puts, CONCURRENCY in flight; the indexes that were acknowledged."""
    acknowledged: set[int] = set()
    indexes = iter(range(count))
    async with AsyncClient([endpoint], token=token, timeout=30.0) as client:
        ds = client.dataset(dataset)

        async def worker() -> None:
            for i in indexes:  # one shared iterator: each index is written once
                pkey, lkey = key(i)
                await ds.put(pkey, lkey, value(i), durability=durability)
                acknowledged.add(i)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return acknowledged


def read_back(node: NodeProcess, made, indexes) -> dict[int, bytes | None]:
    found: dict[int, bytes | None] = {}
    with made.client(timeout=30.0) as client:
        ds = client.dataset(made.dataset)
        ordered = sorted(indexes)
        for start in range(0, len(ordered), BATCH):
            chunk = ordered[start:start + BATCH]
            records = ds.get_many([key(i) for i in chunk])
            for i, record in zip(chunk, records, strict=True):
                found[i] = None if record is None else record.value
    return found


def test_every_acknowledged_sync_write_survives_sigkill(fresh_node: NodeProcess,
                                                         make_tenant_on) -> None:
    made = make_tenant_on(fresh_node)  # dataset default durability: SYNC
    acknowledged = asyncio.run(write_all(fresh_node.address, made.token, made.dataset, WRITES))
    assert len(acknowledged) == WRITES
    fresh_node.kill()  # SIGKILL straight after the last acknowledgement
    assert fresh_node.proc.returncode == -9
    fresh_node.start()  # same data dir, same port
    found = read_back(fresh_node, made, acknowledged)
    lost = [i for i in acknowledged if found[i] != value(i)]
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:10]}"
    with made.client() as client:
        assert len(client.dataset(made.dataset).scan(b"user-00", limit=10_000)) == len(
            range(0, WRITES, 97))


def test_acknowledged_writes_survive_sigkill_and_restart_on_a_new_port(
    fresh_node: NodeProcess, make_tenant_on, tmp_path
) -> None:
    made = make_tenant_on(fresh_node)
    acknowledged = asyncio.run(write_all(fresh_node.address, made.token, made.dataset, 500,
                                         Durability.SYNC))
    fresh_node.kill()
    moved = NodeProcess(fresh_node.data_dir, node_id=1, port=free_port())
    with moved:
        relocated = dataclasses.replace(made, endpoint=moved.address)
        found = read_back(moved, relocated, acknowledged)
        assert all(found[i] == value(i) for i in acknowledged)
        assert moved.stop() == 0


def test_graceful_sigterm_exits_zero_and_keeps_buffered_writes(fresh_node: NodeProcess,
                                                                make_tenant_on) -> None:
    made = make_tenant_on(fresh_node, durability=Durability.BUFFERED)
    acknowledged = asyncio.run(write_all(fresh_node.address, made.token, made.dataset, 2000,
                                         Durability.BUFFERED))
    with made.client() as client:
        client.dataset(made.dataset).delete(*key(0))
    assert fresh_node.stop() == 0
    assert "stopped" in fresh_node.log_tail()
    fresh_node.start()
    found = read_back(fresh_node, made, acknowledged)
    assert found[0] is None  # the delete survived too
    assert all(found[i] == value(i) for i in itertools.islice(sorted(acknowledged), 1, None))


def test_node_refuses_a_data_dir_of_another_node_id(fresh_node: NodeProcess, make_tenant_on,
                                                     tmp_path) -> None:
    made = make_tenant_on(fresh_node)
    with made.client() as client:
        client.dataset(made.dataset).put(b"p", b"k", b"v")
    assert fresh_node.stop() == 0
    impostor = NodeProcess(fresh_node.data_dir, node_id=2, log_path=tmp_path / "impostor.log")
    with pytest.raises(RuntimeError, match="failed to start"):
        impostor.start(timeout=30.0)
    assert impostor.proc.returncode not in (None, 0)
    log = impostor.log_path.read_text()
    assert "belongs to node 1, not node 2" in log
    # the refused start harmed nothing: the rightful node still has its data
    fresh_node.start()
    with made.client() as client:
        assert client.dataset(made.dataset).get(b"p", b"k").value == b"v"


def test_sigterm_under_write_load_exits_zero_and_loses_no_acknowledged_write(
    fresh_node: NodeProcess, make_tenant_on
) -> None:
    made = make_tenant_on(fresh_node)
    acknowledged: set[int] = set()
    failures: list[BaseException] = []

    async def load() -> None:
        async with AsyncClient([fresh_node.address], token=made.token, timeout=10.0) as client:
            ds = client.dataset(made.dataset)
            counter = itertools.count()

            async def worker() -> None:
                for i in counter:
                    try:
                        await ds.put(*key(i), value(i))
                    except Exception as exc:  # the node is going away: stop this worker
                        failures.append(exc)
                        return
                    acknowledged.add(i)

            workers = [asyncio.create_task(worker()) for _ in range(CONCURRENCY)]
            while len(acknowledged) < 500:
                await asyncio.sleep(0.01)
            fresh_node.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(asyncio.gather(*workers), 30)

    asyncio.run(load())
    assert fresh_node.proc.wait(15) == 0
    # every failed call surfaced as a typed SDK error, never as a raw grpc error or a bug:
    # refused or cancelled, or the connection lost mid-call (outcome unknown)
    assert failures and all(isinstance(f, (Unavailable, Cancelled, ConnectionLost))
                            for f in failures), {type(f).__name__ for f in failures}
    fresh_node.start()
    found = read_back(fresh_node, made, acknowledged)
    lost = [i for i in acknowledged if found[i] != value(i)]
    assert not lost, f"{len(lost)} acknowledged writes lost"
