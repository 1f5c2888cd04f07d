"""The blocking client: ``Client(endpoints, token=...)``.

Requests, decoding, routing, retries, breakers and topology decisions come from
the shared core and the facades (``facade.py``); this module only does the
blocking I/O: channels and what is known of their connections, grpc calls, a
small thread pool for the parts of a split get_many/put_many and for
background topology refreshes.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

from manhattan.client import operations as ops
from manhattan.client import serial_read
from manhattan.client.conditional import WRITE_SHARE, ConditionalWrite
from manhattan.client.core import (
    CHANNEL_OPTIONS, PARALLEL_REQUESTS, PEEK_THREADS, CoreViews,
    connection_ready, unreachable,
)
from manhattan.client.facade import AdminOps, DatasetOps
from manhattan.client.models import DatasetInfo, Record, Version
from manhattan.client.topology import Refresh
from manhattan.security.tls import channel as open_channel
from manhattan.errors import ManhattanError, Timeout, Unavailable
from manhattan.proto.v1 import admin_pb2_grpc, cluster_pb2, cluster_pb2_grpc, data_pb2_grpc
from manhattan.proto.v1 import ops_pb2_grpc

T = TypeVar("T")
_STUBS = {"data": data_pb2_grpc.DataStub, "admin": admin_pb2_grpc.AdminStub,
          "cluster": cluster_pb2_grpc.ClusterStub, "ops": ops_pb2_grpc.OpsStub}


_STATES = {state.value[0]: state for state in grpc.ChannelConnectivity}
_POOL_SIZES = {"parts": PARALLEL_REQUESTS, "peeks": PEEK_THREADS}


class _Link:
    """A channel and a synchronous look at its connection, so a call knows whether it
    goes out on an established one.

    grpc's public connectivity API for blocking channels is a subscription served by a
    poller thread: its state arrives late (a call could go out on a connection grpc
    already knows is gone) and the thread may touch the channel after ``close()``. The
    channel's own check and watch (what that thread calls) answer at once, here.
    """

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self._native = channel._channel  # type: ignore[attr-defined]

    def _state(self) -> grpc.ChannelConnectivity:
        """The state now; an idle channel starts connecting."""
        return _STATES[self._native.check_connectivity_state(True)]

    def connect(self, endpoint: str, deadline: float) -> None:
        """Return once connected; NodeUnreachable when it failed or the deadline came."""
        state = self._state()
        while not connection_ready(state, endpoint):
            left = deadline - time.monotonic()
            if left <= 0:
                raise unreachable(endpoint)
            self._native.watch_connectivity_state(state.value[0], time.time() + min(left, 1.0))
            state = self._state()

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()


class Dataset(DatasetOps):
    """Reads and writes on one dataset (blocking). Keys and values are bytes or str."""


class Admin(AdminOps):
    """Tenant and dataset management (needs the admin token), blocking."""


class Client(CoreViews[Dataset, Admin]):
    """A blocking Manhattan client; use as a context manager or call ``close()``.

    ``endpoints`` are seeds: the client learns every member from the cluster's
    topology and routes each single-key call to a replica of its pkey
    (``TokenAwarePolicy(RoundRobinPolicy(endpoints))`` unless ``routing`` is given).
    Thread-safe.
    """

    _dataset_class = Dataset
    _admin_class = Admin

    def _open(self) -> None:
        self._lock = threading.Lock()
        self._links: dict[str, _Link] = {}
        self._pools: dict[str, ThreadPoolExecutor] = {}

    def _link(self, endpoint: str) -> _Link:
        link = self._links.get(endpoint)
        if link is None:
            with self._lock:
                link = self._links.get(endpoint)
                if link is None:
                    link = self._links[endpoint] = _Link(open_channel(
                        endpoint, self._core.credentials, CHANNEL_OPTIONS))
        return link

    def _stub(self, endpoint: str, service: str) -> Any:
        stub = self._stubs.get((endpoint, service))
        if stub is None:
            stub = self._stubs[(endpoint, service)] = _STUBS[service](
                self._link(endpoint).channel)
        return stub

    def _executor(self, name: str = "parts") -> ThreadPoolExecutor:
        """A pool of worker threads, made on first use: ``parts`` for the parts of a
        split call and background refreshes, ``peeks`` for the replicas' answers to a
        SERIAL get (its own, so peeks never wait behind a slow split call). Threads
        that persist: a grpc future would start a new polling thread per call."""
        pool = self._pools.get(name)
        if pool is None:
            with self._lock:
                pool = self._pools.get(name)
                if pool is None:
                    pool = self._pools[name] = ThreadPoolExecutor(
                        _POOL_SIZES[name], thread_name_prefix=f"manhattan-client-{name}")
        return pool

    def _attempt(self, op: ops.Operation[T], endpoint: str, deadline: float) -> T:
        """One request to ``endpoint``; its failure as the precise ManhattanError."""
        self._core.sending(endpoint)
        try:
            self._core.remaining(deadline, op)
            self._link(endpoint).connect(endpoint, deadline)
            method = getattr(self._stub(endpoint, op.service), op.method)
            response, call = method.with_call(
                op.request, timeout=self._core.remaining(deadline, op),
                metadata=self._core.session.metadata)
        except (grpc.RpcError, ManhattanError) as exc:
            raise self._core.failed(endpoint, exc) from None
        self._core.session.observe(call.trailing_metadata())  # the node's clock (session.py)
        return self._core.answered(endpoint, op, response)

    def _execute(self, op: ops.Operation[T], deadline: float) -> T:
        """One operation, following a paged answer's cursor (ops.rest_of) to its end."""
        result = self._execute_once(op, deadline)
        rest = ops.rest_of(op, result)
        while rest is not None:
            more = self._execute_once(rest, deadline)
            result = result + more  # type: ignore[operator]
            rest = ops.rest_of(rest, more)
        return result

    def _execute_once(self, op: ops.Operation[T], deadline: float) -> T:
        self._maybe_refresh(deadline)
        attempts = self._core.attempts(op, deadline)
        while True:
            try:
                return self._attempt(op, attempts.next_endpoint(), deadline)
            except ManhattanError as exc:
                time.sleep(attempts.failed(exc))  # raises the final error instead

    def _execute_split(self, op: ops.Operation[list[T]], deadline: float) -> list[T]:
        """A multi-key call as one request per replica set, sent in parallel."""
        self._maybe_refresh(deadline)
        groups = self._core.groups(op)
        if len(groups) <= 1:
            return self._execute(ops.to_its_replicas(op), deadline)
        parts = ops.split(op, groups)
        futures = [self._executor().submit(self._execute, part, deadline)
                   for part in parts[1:]]
        outcomes: list[Any] = [_outcome(lambda: self._execute(parts[0], deadline))]
        outcomes += [_outcome(future.result) for future in futures]  # each bounded
        return self._core.combine(op, groups, outcomes)

    def execute(self, op: ops.Operation[T], timeout: float | None = None) -> T:
        """Send one operation: first try straight away, then retry as the policy allows.

        A multi-key call is split by replica set and its parts sent in parallel."""
        deadline = self._core.deadline(timeout)
        if op.batch is not None:
            return self._execute_split(op, deadline)  # type: ignore[arg-type,return-value]
        return self._execute(op, deadline)

    # -- the facades' transport ---------------------------------------------------------

    def _run(self, op: ops.Operation[T], timeout: float | None,
             then: Callable[[T], Any] | None = None) -> Any:
        result = self.execute(op, timeout)
        return then(result) if then is not None else result

    def _stream(self, pager: ops.ScanPager, timeout: float | None) -> Iterator[Record]:
        while (op := pager.next()) is not None:
            yield from pager.feed(self.execute(op, timeout))

    def _gather(self, pager: ops.ScanPager, timeout: float | None) -> list[Record]:
        return list(self._stream(pager, timeout))

    def _broadcast(self, op: ops.Operation[T], timeout: float | None,
                   then: Callable[[list[T]], Any]) -> Any:
        deadline = self._core.deadline(timeout)
        with contextlib.suppress(ManhattanError):  # the seeds alone still answer
            self.refresh_topology(timeout=self._core.half_left(deadline))
        answers = []
        for endpoint in self._core.known_endpoints():
            with contextlib.suppress(Unavailable):  # a node that is down: ask it later
                answers.append(self._attempt(op, endpoint, deadline))
        return then(answers)

    def _conditional(self, write: ConditionalWrite, timeout: float | None) -> Version:
        deadline = self._core.deadline(timeout)
        while True:
            budget = deadline - time.monotonic()
            try:
                return write.written(self.execute(write.write, max(budget * WRITE_SHARE, 0.001)))
            except Timeout as unknown:
                try:
                    record = self.execute(write.reread(), max(deadline - time.monotonic(),
                                                              0.001))
                except ManhattanError as exc:
                    raise unknown from exc
                version = write.settle(record, unknown)
                if version is not None:
                    return version

    def _serial_get(self, op: ops.Operation[Record | None], timeout: float | None
                    ) -> Record | None:
        deadline = self._core.deadline(timeout)
        self._maybe_refresh(deadline)
        peeks = serial_read.plan(self._core, op, deadline)
        settled = self._peek(peeks) if peeks is not None else None
        if settled is not None:
            return settled.record
        return self._execute(op, deadline)

    def _peek(self, peeks: serial_read.PeekPlan) -> serial_read.Settled | None:
        """The replicas' views, asked in parallel (``serial_read.PeekRound``), each an
        attempt on a worker thread: a grpc future would start a polling thread per call."""
        peek = serial_read.PeekRound(peeks)
        answers: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        tasks: list[Future[Any]] = []

        def ask(endpoints: list[str]) -> None:
            for endpoint in endpoints:
                task = self._executor("peeks").submit(self._attempt, peeks.op, endpoint,
                                                      peek.deadline)
                task.add_done_callback(answers.put)
                tasks.append(task)

        ask(peek.start())
        try:
            while not peek.finished:
                try:
                    task = answers.get(timeout=peek.wait_s())
                except queue.Empty:
                    ask(peek.hedge())
                    continue
                answer = _outcome(task.result)  # a failed one is recorded by _attempt
                ask(peek.answered(None if isinstance(answer, ManhattanError) else answer))
        finally:
            for task in tasks:
                task.cancel()  # (only those still queued; a running one ends at its timeout)
        return peek.outcome()

    # -- topology ---------------------------------------------------------------------

    def _maybe_refresh(self, deadline: float) -> None:
        topology = self._core.topology
        due = topology.due()
        if due is Refresh.NONE or not topology.claim():
            return
        if due is Refresh.WAIT:
            self._refresh(self._core.fetch_deadline(deadline))
            return
        try:
            future = self._executor().submit(self._refresh, self._core.fetch_deadline())
        except RuntimeError:  # the pool is shutting down (close() raced us)
            topology.finish(None)
            return
        future.add_done_callback(lambda f: f.cancelled() and topology.finish(None))

    def _refresh(self, deadline: float) -> None:
        """The claimed fetch: always ends it."""
        message: cluster_pb2.TopologyMessage | None = None
        datasets: list[DatasetInfo] | None = None
        try:
            message, datasets = self._fetch(deadline)
        finally:
            self._core.topology.finish(message, datasets)

    def _fetch(self, deadline: float
               ) -> tuple[cluster_pb2.TopologyMessage | None, list[DatasetInfo] | None]:
        """GetTopology (and ListDatasets alongside) from the first endpoint that answers."""
        for endpoint in self._core.fetch_plan():
            if time.monotonic() >= deadline:
                break
            listing = ops.list_datasets(None, local=True)  # routing hints: no log barrier
            pending: Future[Any] | None = None
            try:
                pending = getattr(self._stub(endpoint, "admin"), listing.method).future(
                    listing.request, timeout=max(deadline - time.monotonic(), 0.001),
                    metadata=self._core.metadata)
                message = self._attempt(ops.topology_message(), endpoint, deadline)
            except ManhattanError:
                if pending is not None:
                    pending.cancel()
                continue
            try:
                datasets = listing.parse(pending.result())
            except grpc.RpcError:
                datasets = None  # routing falls back to the default replication factor
            return message, datasets
        return None, None

    def refresh_topology(self, timeout: float | None = None) -> int:
        """Fetch the topology now; returns its epoch. Unavailable if no endpoint answers."""
        deadline = self._core.deadline(timeout)
        message, datasets = self._fetch(deadline)
        if message is None:
            raise Unavailable("no endpoint answered GetTopology")
        self._core.topology.update(message, datasets)
        return self._core.topology.epoch

    def close(self) -> None:
        """Close every channel and stop the worker threads."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            for link in self._links.values():
                link.close()
            self._links.clear()
            self._stubs.clear()
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _outcome(call: Callable[[], T]) -> T | ManhattanError:
    """The result of ``call``, or the ManhattanError it raised."""
    try:
        return call()
    except ManhattanError as exc:
        return exc
