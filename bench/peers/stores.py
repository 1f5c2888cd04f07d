"""YCSB Store adapters for the peers and the in-process limit, and a helper that
starts whichever peers can run here.

Every adapter keeps the records of a YCSB bucket in item order, so a scan is
"up to N records of this bucket from this item on" everywhere:

* Redis and Redis Cluster: a string per record plus a sorted set per bucket
  (all scores 0, so ZRANGEBYLEX orders by item); a scan is ZRANGEBYLEX + MGET,
  two round trips. Keys carry the hash tag ``{bucket}`` so that in Redis Cluster
  a bucket's records and its index share one slot (one master); the single
  Redis uses the same names. Inserts write the record and its index entry in
  one pipeline (one round trip).
* etcd: key ``bucket/item``; a scan is one Range with ``range_end = bucket0``
  (the byte after ``/``) and a limit. Reads are linearizable unless
  ``serializable=True`` is asked for: etcd's default, and what its users get.
* rocksdict in process: key ``bucket\\0item`` in one RocksDB, WAL on, no fsync
  per write; no network, no serialization — the physical limit of this machine.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rocksdict import Options, Rdict, ReadOptions, WriteOptions

from manhattan.bench.peers.etcd import EtcdClient, EtcdCluster, EtcdServer
from manhattan.bench.peers.redis import RedisClusterServers, RedisServer
from manhattan.bench.workloads import Key, StoreBase


def _record(key: Key) -> bytes:
    return b"{" + key.bucket + b"}:" + key.item


def _index(bucket: bytes) -> bytes:
    return b"{" + bucket + b"}:idx"


class RedisStore(StoreBase):
    """A single Redis (``redis.Redis``) or a Redis Cluster (``RedisCluster``)."""

    def __init__(self, client: Any, name: str = "redis") -> None:
        self.client = client
        self.name = name
        self.cluster = hasattr(client, "get_nodes")
        self._mget = client.mget_nonatomic if self.cluster else client.mget

    def read(self, key: Key) -> bytes | None:
        return self.client.get(_record(key))

    def update(self, key: Key, value: bytes) -> None:
        self.client.set(_record(key), value)

    def insert(self, key: Key, value: bytes) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.set(_record(key), value)
        pipe.zadd(_index(key.bucket), {key.item: 0})
        pipe.execute()

    def scan(self, key: Key, count: int) -> int:
        items = self.client.zrangebylex(_index(key.bucket), b"[" + key.item, b"+",
                                        start=0, num=count)
        if not items:
            return 0
        prefix = b"{" + key.bucket + b"}:"
        values = self._mget([prefix + item for item in items])
        return sum(value is not None for value in values)

    def load(self, items: list[tuple[Key, bytes]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, value in items:
            pipe.set(_record(key), value)
            pipe.zadd(_index(key.bucket), {key.item: 0})
        pipe.execute()

    def close(self) -> None:
        self.client.close()


class EtcdStore(StoreBase):
    """etcd through its gRPC KV API; every put is a Raft commit, fsynced."""

    def __init__(self, client: EtcdClient, *, serializable: bool = False,
                 name: str = "etcd", load_threads: int = 16) -> None:
        self.client = client
        self.serializable = serializable
        self.name = name
        self.load_threads = load_threads

    @staticmethod
    def _key(key: Key) -> bytes:
        return key.bucket + b"/" + key.item

    def read(self, key: Key) -> bytes | None:
        return self.client.get(self._key(key), serializable=self.serializable)

    def update(self, key: Key, value: bytes) -> None:
        self.client.put(self._key(key), value)

    def scan(self, key: Key, count: int) -> int:
        return len(self.client.scan(self._key(key), key.bucket + b"0", count))

    def load(self, items: list[tuple[Key, bytes]]) -> None:
        """Concurrent puts: etcd batches concurrent proposals into one fsync."""
        with ThreadPoolExecutor(self.load_threads) as pool:
            list(pool.map(lambda kv: self.client.put(self._key(kv[0]), kv[1]), items))

    def close(self) -> None:
        self.client.close()


class RocksStore(StoreBase):
    """rocksdict in this process: what the hardware does with no network at all."""

    name = "rocksdict in-process"

    def __init__(self, path: Path) -> None:
        self.path = path
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self.db = Rdict(str(path), options)
        self.write_options = WriteOptions()  # WAL on, not fsynced per write
        self.db.set_write_options(self.write_options)

    @staticmethod
    def _key(key: Key) -> bytes:
        return key.bucket + b"\x00" + key.item

    def read(self, key: Key) -> bytes | None:
        return self.db.get(self._key(key))

    def update(self, key: Key, value: bytes) -> None:
        self.db[self._key(key)] = value

    def scan(self, key: Key, count: int) -> int:
        options = ReadOptions()
        options.set_iterate_upper_bound(key.bucket + b"\x01")
        it = self.db.iter(options)
        it.seek(self._key(key))
        found = 0
        while found < count and it.valid():
            it.value()
            found += 1
            it.next()
        return found

    def load(self, items: list[tuple[Key, bytes]]) -> None:
        for key, value in items:
            self.db[self._key(key)] = value

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)


# -- the peer servers -------------------------------------------------------------


@dataclass
class Peer:
    """A started peer: its system name, the server (``pids``, ``version``, ``stop``)."""

    system: str
    server: Any

    @property
    def pids(self) -> list[int]:
        return list(self.server.pids)

    @property
    def version(self) -> str:
        return str(self.server.version)


PEER_FACTORIES: dict[str, Callable[[Path], Any]] = {
    "redis": RedisServer,
    "redis-cluster": RedisClusterServers,
    "etcd": EtcdServer,
    "etcd-3": EtcdCluster,
}


def start_peers(workdir: Path, notes: list[str], wanted: tuple[str, ...] = tuple(PEER_FACTORIES),
                progress: Callable[[str], None] = lambda _m: None) -> dict[str, Peer]:
    """Start each wanted peer; one that cannot be installed or started is skipped
    with a note (the suite still runs the others)."""
    peers: dict[str, Peer] = {}
    for system in wanted:
        progress(f"starting {system}")
        server = None
        try:
            server = PEER_FACTORIES[system](workdir)
            server.start()
        except Exception as exc:  # PeerMissing, a start timeout, a port clash...
            if server is not None:
                _stop_quietly(server)
            notes.append(f"{system} skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            continue
        peers[system] = Peer(system, server)
    return peers


def stop_peers(peers: dict[str, Peer]) -> None:
    """Stop every started peer (by PID, via ServerProcess)."""
    for peer in peers.values():
        _stop_quietly(peer.server)


def _stop_quietly(server: Any) -> None:
    try:
        server.stop()
    except Exception:  # a peer that fails to stop must not hide the results
        pass


def peer_store(peer: Peer, **options: Any) -> StoreBase:
    """The YCSB adapter for a started peer (``serializable`` for etcd)."""
    if peer.system == "etcd":
        return EtcdStore(peer.server.client(), **options)
    return RedisStore(peer.server.client(), name=peer.system)
