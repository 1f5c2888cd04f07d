"""A node's cleanup after a membership change, on a real engine: a dataset dropped while
the cleanup runs is skipped (nothing of it is left to clean), and the datasets after it
are still cleaned. Jepsen seed 7 saw such a cleanup fail INTERNAL and hold a change."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace

from manhattan.cluster.membership import Membership
from manhattan.cluster.topology import Member, Topology
from manhattan.replication.hints import HintStore
from manhattan.replication.streaming import Transfers
from manhattan.storage import Entry, RocksEngine, Version, Write


class DropsDuringCleanup(RocksEngine):
    """A real engine on which dataset ``gone`` is dropped just as the cleanup reaches it:
    the race with a drop, made deterministic."""

    def delete_range(self, dataset, ranges) -> None:
        if dataset == "gone":
            self.drop_dataset("gone")
        super().delete_range(dataset, ranges)


@dataclass(frozen=True)
class Spec:
    storage_id: str
    replication_factor: int = 3


class Catalog:
    def datasets(self) -> list[Spec]:
        return [Spec("gone"), Spec("kept")]  # by name, as the node's catalog lists them


def test_a_dataset_dropped_during_cleanup_is_skipped_and_the_rest_cleaned(tmp_path) -> None:
    engine = DropsDuringCleanup(tmp_path / "db")
    executor = ThreadPoolExecutor(1)
    try:
        for name in ("gone", "kept"):
            engine.create_dataset(name)
            engine.apply(name, [Write(b"p", b"l", Entry(Version(1, 2), b"v", 0, False))])
        # Node 1 left the cluster: it owns nothing any more, so cleanup drops everything.
        topology = Topology(5, tuple(Member(i, f"h:{i}") for i in (2, 3, 4)))
        transfers = Transfers(
            peers=SimpleNamespace(node_id=1), engine=engine,
            membership=Membership(engine, 1, topology, vnodes=16), catalog=Catalog(),
            hints=HintStore(engine), config=None, merge_catalog=None, executor=executor,
            exchanger=None)
        reply = asyncio.run(transfers.cleanup())
        assert engine.datasets() == ["kept"]
        assert engine.get_entry("kept", b"p", b"l") is None  # cleaned after the skip
        assert reply.ranges_dropped == 1
    finally:
        executor.shutdown()
        engine.close()
