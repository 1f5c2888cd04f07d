"""etcd on loopback (one member, or a three-member cluster) and a gRPC client of its
KV API.

etcd is the durable single-operation peer: every Put is committed through Raft
and fsynced before the answer. Reads are linearizable by default (the leader
confirms it still leads); ``serializable`` reads answer from the local store.
The client calls etcd's own gRPC methods with the wire-compatible subset in
etcd_kv.proto, from Python like Manhattan's SDK.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from manhattan.bench.peers import etcd_kv_pb2 as kv
from manhattan.bench.peers.install import ensure, version
from manhattan.bench.peers.server import ServerProcess
from manhattan.node.process import free_port

HOST = "127.0.0.1"


class EtcdServer:
    """An etcd cluster of ``members`` on loopback, its data in ``workdir``. One member
    (the default) commits alone; three commit like Manhattan's RF 3 writes, each entry
    fsynced by a majority (the leader and one follower) before the answer. The client
    talks to the first member (a follower forwards proposals to the leader, as a
    Manhattan coordinator that is not a replica forwards writes)."""

    def __init__(self, workdir: Path, members: int = 1) -> None:
        binary = ensure("etcd")["etcd"]
        self.version = version(binary)
        names = [f"bench{i}" if members > 1 else "bench" for i in range(members)]
        peers = [f"http://{HOST}:{free_port(HOST)}" for _ in names]
        ports = [free_port(HOST) for _ in names]
        cluster = ",".join(f"{name}={peer}" for name, peer in zip(names, peers))
        data = workdir / ("etcd" if members == 1 else f"etcd-{members}")
        self.port = ports[0]
        self.address = f"{HOST}:{self.port}"
        self.processes = []
        for index, (name, peer, port) in enumerate(zip(names, peers, ports)):
            client_url = f"http://{HOST}:{port}"
            member = data if members == 1 else data / name
            self.processes.append(ServerProcess(
                "etcd" if members == 1 else f"etcd-{name}",
                [binary, "--name", name, "--data-dir", str(member / "member-data"),
                 "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", cluster, "--initial-cluster-state", "new",
                 "--log-level", "error"],
                member, ready=lambda index=index: self._ready(index)))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def _ready(self, index: int) -> bool:
        """The last member started: the client's member answers a read (a leader is
        elected). Those before it cannot answer yet: no majority has started."""
        if index < len(self.processes) - 1:
            return True
        with EtcdClient(self.address) as client:
            client.get(b"ready", timeout=1.0)
        return True

    def start(self) -> "EtcdServer":
        for process in self.processes:
            process.start()
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def client(self) -> "EtcdClient":
        return EtcdClient(self.address)


class EtcdCluster(EtcdServer):
    """Three etcd members: replicated like Manhattan's RF 3 (the like-for-like peer)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, members=3)


class EtcdClient:
    """Range and Put over one gRPC channel (a context manager)."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self._range = self.channel.unary_unary(
            "/etcdserverpb.KV/Range", request_serializer=kv.RangeRequest.SerializeToString,
            response_deserializer=kv.RangeResponse.FromString)
        self._put = self.channel.unary_unary(
            "/etcdserverpb.KV/Put", request_serializer=kv.PutRequest.SerializeToString,
            response_deserializer=kv.PutResponse.FromString)
        self._txn = self.channel.unary_unary(
            "/etcdserverpb.KV/Txn", request_serializer=kv.TxnRequest.SerializeToString,
            response_deserializer=kv.TxnResponse.FromString)

    def get(self, key: bytes, *, serializable: bool = False, timeout: float = 5.0
            ) -> bytes | None:
        reply = self._range(kv.RangeRequest(key=key, serializable=serializable),
                            timeout=timeout)
        return reply.kvs[0].value if reply.kvs else None

    def get_revision(self, key: bytes, *, timeout: float = 5.0) -> int:
        """The key's mod revision (0: no such key): what a compare-and-swap compares."""
        reply = self._range(kv.RangeRequest(key=key), timeout=timeout)
        return reply.kvs[0].mod_revision if reply.kvs else 0

    def scan(self, start: bytes, end: bytes, limit: int, *, timeout: float = 5.0
             ) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` pairs with ``start <= key < end``, in key order."""
        reply = self._range(kv.RangeRequest(key=start, range_end=end, limit=limit),
                            timeout=timeout)
        return [(pair.key, pair.value) for pair in reply.kvs]

    def put(self, key: bytes, value: bytes, *, timeout: float = 5.0) -> int:
        """Store ``value``; returns the store's revision after the put."""
        return self._put(kv.PutRequest(key=key, value=value), timeout=timeout).header.revision

    def compare_and_swap(self, key: bytes, mod_revision: int, value: bytes, *,
                         timeout: float = 5.0) -> tuple[bool, int]:
        """Put ``value`` only if ``key`` was last modified at ``mod_revision`` (0: the
        key does not exist), in one Txn. Returns (swapped, the key's mod revision now):
        on a failed compare the Txn reads the key, as a real CAS loop needs."""
        compare = kv.Compare(result=kv.Compare.EQUAL, target=kv.Compare.MOD, key=key,
                             mod_revision=mod_revision)
        reply = self._txn(kv.TxnRequest(
            compare=[compare], success=[kv.RequestOp(request_put=kv.PutRequest(
                key=key, value=value))],
            failure=[kv.RequestOp(request_range=kv.RangeRequest(key=key))]), timeout=timeout)
        if reply.succeeded:
            return True, reply.header.revision
        kvs = reply.responses[0].response_range.kvs
        return False, kvs[0].mod_revision if kvs else 0

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "EtcdClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
