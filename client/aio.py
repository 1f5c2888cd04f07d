"""The asyncio client: ``async with AsyncClient(endpoints, token=...)``.

Same surface as Client; requests, decoding, routing, breakers and topology
decisions come from the shared core, only the I/O (grpc.aio channels, awaits,
background tasks) differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

from manhattan.client import operations as ops
from manhattan.client import serial_read
from manhattan.client.conditional import WRITE_SHARE, ConditionalWrite
from manhattan.client.core import (
    CHANNEL_OPTIONS, CoreViews, connection_ready, unreachable,
)
from manhattan.client.facade import AdminOps, DatasetOps
from manhattan.client.models import DatasetInfo, Record, Version
from manhattan.client.topology import Refresh
from manhattan.security.tls import aio_channel
from manhattan.errors import ManhattanError, Timeout, Unavailable
from manhattan.proto.v1 import admin_pb2_grpc, cluster_pb2, cluster_pb2_grpc, data_pb2_grpc

T = TypeVar("T")
_STUBS = {"data": data_pb2_grpc.DataStub, "admin": admin_pb2_grpc.AdminStub,
          "cluster": cluster_pb2_grpc.ClusterStub}


def _discard(task: asyncio.Future[Any]) -> None:
    """Cancel a side task we no longer need, without 'exception never retrieved' noise."""
    if task.done():
        if not task.cancelled():
            task.exception()
    else:
        task.cancel()


class AsyncDataset(DatasetOps):
    """Reads and writes on one dataset (asyncio): every call is awaited, ``iter_scan``
    is an async iterator. Keys and values are bytes or str."""


class AsyncAdmin(AdminOps):
    """Tenant and dataset management (needs the admin token), asyncio."""


class AsyncClient(CoreViews[AsyncDataset, AsyncAdmin]):
    """An asyncio Manhattan client; ``async with`` it or ``await close()``.

    Routes like Client: the endpoints are seeds, the topology names the rest.
    """

    _dataset_class = AsyncDataset
    _admin_class = AsyncAdmin

    def _open(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _stub(self, endpoint: str, service: str) -> Any:
        stub = self._stubs.get((endpoint, service))
        if stub is None:
            channel = self._channels.get(endpoint)
            if channel is None:
                channel = aio_channel(endpoint, self._core.credentials, CHANNEL_OPTIONS)
                self._channels[endpoint] = channel
            stub = self._stubs[(endpoint, service)] = _STUBS[service](channel)
        return stub

    async def _connect(self, endpoint: str, deadline: float) -> None:
        """Return once the channel to ``endpoint`` is connected; NodeUnreachable when
        connecting failed or the deadline came first (nothing was sent)."""
        channel = self._channels[endpoint]
        state = channel.get_state(try_to_connect=True)
        while not connection_ready(state, endpoint):
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state),
                                       deadline - time.monotonic())
            except asyncio.TimeoutError:
                raise unreachable(endpoint) from None
            state = channel.get_state(try_to_connect=True)

    async def _attempt(self, op: ops.Operation[T], endpoint: str, deadline: float) -> T:
        """One request to ``endpoint``; its failure as the precise ManhattanError."""
        self._core.sending(endpoint)
        try:
            method = getattr(self._stub(endpoint, op.service), op.method)
            await self._connect(endpoint, deadline)
            call = method(op.request, timeout=self._core.remaining(deadline, op),
                          metadata=self._core.session.metadata)
            response = await call
            trailing = await call.trailing_metadata()
        except (grpc.RpcError, ManhattanError) as exc:
            raise self._core.failed(endpoint, exc) from None
        self._core.session.observe(trailing)  # the node's clock (session.py)
        return self._core.answered(endpoint, op, response)

    async def _execute(self, op: ops.Operation[T], deadline: float) -> T:
        """One operation, following a paged answer's cursor (ops.rest_of) to its end."""
        result = await self._execute_once(op, deadline)
        rest = ops.rest_of(op, result)
        while rest is not None:
            more = await self._execute_once(rest, deadline)
            result = result + more  # type: ignore[operator]
            rest = ops.rest_of(rest, more)
        return result

    async def _execute_once(self, op: ops.Operation[T], deadline: float) -> T:
        await self._maybe_refresh(deadline)
        attempts = self._core.attempts(op, deadline)
        while True:
            try:
                return await self._attempt(op, attempts.next_endpoint(), deadline)
            except ManhattanError as exc:
                await asyncio.sleep(attempts.failed(exc))  # raises the final error instead

    async def _execute_split(self, op: ops.Operation[list[T]], deadline: float) -> list[T]:
        """A multi-key call as one request per replica set, sent concurrently."""
        await self._maybe_refresh(deadline)
        groups = self._core.groups(op)
        if len(groups) <= 1:
            return await self._execute(ops.to_its_replicas(op), deadline)
        outcomes = await asyncio.gather(
            *(self._execute(part, deadline) for part in ops.split(op, groups)),
            return_exceptions=True)
        for outcome in outcomes:  # a bug, not an outcome: let it through
            if isinstance(outcome, BaseException) and not isinstance(outcome, ManhattanError):
                raise outcome
        return self._core.combine(op, groups, outcomes)

    async def execute(self, op: ops.Operation[T], timeout: float | None = None) -> T:
        """Send one operation: first try straight away, then retry as the policy allows.

        A multi-key call is split by replica set and its parts sent concurrently."""
        deadline = self._core.deadline(timeout)
        if op.batch is not None:
            return await self._execute_split(op, deadline)  # type: ignore[arg-type,return-value]
        return await self._execute(op, deadline)

    # -- the facades' transport ---------------------------------------------------------

    async def _run(self, op: ops.Operation[T], timeout: float | None,
                   then: Callable[[T], Any] | None = None) -> Any:
        result = await self.execute(op, timeout)
        return then(result) if then is not None else result

    async def _stream(self, pager: ops.ScanPager, timeout: float | None
                      ) -> AsyncIterator[Record]:
        while (op := pager.next()) is not None:
            for record in pager.feed(await self.execute(op, timeout)):
                yield record

    async def _gather(self, pager: ops.ScanPager, timeout: float | None) -> list[Record]:
        return [record async for record in self._stream(pager, timeout)]

    async def _broadcast(self, op: ops.Operation[T], timeout: float | None,
                         then: Callable[[list[T]], Any]) -> Any:
        deadline = self._core.deadline(timeout)
        with contextlib.suppress(ManhattanError):  # the seeds alone still answer
            await self.refresh_topology(timeout=self._core.half_left(deadline))
        answers = await asyncio.gather(
            *(self._attempt(op, e, deadline) for e in self._core.known_endpoints()),
            return_exceptions=True)
        for answer in answers:  # a node that is down (Unavailable): ask it later
            if isinstance(answer, BaseException) and not isinstance(answer, Unavailable):
                raise answer
        return then([a for a in answers if not isinstance(a, Unavailable)])

    async def _conditional(self, write: ConditionalWrite, timeout: float | None) -> Version:
        deadline = self._core.deadline(timeout)
        while True:
            budget = deadline - time.monotonic()
            try:
                return write.written(await self.execute(write.write,
                                                        max(budget * WRITE_SHARE, 0.001)))
            except Timeout as unknown:
                try:
                    record = await self.execute(write.reread(),
                                                max(deadline - time.monotonic(), 0.001))
                except ManhattanError as exc:
                    raise unknown from exc
                version = write.settle(record, unknown)
                if version is not None:
                    return version

    async def _serial_get(self, op: ops.Operation[Record | None], timeout: float | None
                          ) -> Record | None:
        deadline = self._core.deadline(timeout)
        await self._maybe_refresh(deadline)
        peeks = serial_read.plan(self._core, op, deadline)
        settled = await self._peek(peeks) if peeks is not None else None
        if settled is not None:
            return settled.record
        return await self._execute(op, deadline)

    async def _peek(self, peeks: serial_read.PeekPlan) -> serial_read.Settled | None:
        """The replicas' views, asked in parallel (``serial_read.PeekRound``), each an
        attempt (``_attempt``)."""
        peek = serial_read.PeekRound(peeks)

        async def ask_one(endpoint: str) -> Any:
            try:
                return await self._attempt(peeks.op, endpoint, peek.deadline)
            except ManhattanError:  # recorded by _attempt
                return None

        pending: set[asyncio.Task[Any]] = set()

        def ask(endpoints: list[str]) -> None:
            pending.update(asyncio.ensure_future(ask_one(e)) for e in endpoints)

        ask(peek.start())
        try:
            while not peek.finished and pending:
                done, _ = await asyncio.wait(pending, timeout=peek.wait_s(),
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    ask(peek.hedge())
                    continue
                for task in done:
                    pending.discard(task)
                    ask(peek.answered(task.result()))
        finally:
            for task in pending:
                task.cancel()
        return peek.outcome()

    # -- topology ---------------------------------------------------------------------

    async def _maybe_refresh(self, deadline: float) -> None:
        topology = self._core.topology
        due = topology.due()
        if due is Refresh.NONE or not topology.claim():
            return
        if due is Refresh.WAIT:
            await self._refresh(self._core.fetch_deadline(deadline))
            return
        task = asyncio.get_running_loop().create_task(
            self._refresh(self._core.fetch_deadline()), name="manhattan-topology")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, deadline: float) -> None:
        """The claimed fetch: always ends it."""
        message: cluster_pb2.TopologyMessage | None = None
        datasets: list[DatasetInfo] | None = None
        try:
            message, datasets = await self._fetch(deadline)
        finally:
            self._core.topology.finish(message, datasets)

    async def _fetch(self, deadline: float
                     ) -> tuple[cluster_pb2.TopologyMessage | None, list[DatasetInfo] | None]:
        """GetTopology (and ListDatasets alongside) from the first endpoint that answers."""
        for endpoint in self._core.fetch_plan():
            if time.monotonic() >= deadline:
                break
            listing = asyncio.ensure_future(
                self._attempt(ops.list_datasets(None, local=True), endpoint, deadline))
            try:
                message = await self._attempt(ops.topology_message(), endpoint, deadline)
            except ManhattanError:
                _discard(listing)
                continue
            try:
                datasets: list[DatasetInfo] | None = await listing
            except ManhattanError:
                datasets = None  # routing falls back to the default replication factor
            return message, datasets
        return None, None

    async def refresh_topology(self, timeout: float | None = None) -> int:
        """Fetch the topology now; returns its epoch. Unavailable if no endpoint answers."""
        deadline = self._core.deadline(timeout)
        message, datasets = await self._fetch(deadline)
        if message is None:
            raise Unavailable("no endpoint answered GetTopology")
        self._core.topology.update(message, datasets)
        return self._core.topology.epoch

    async def close(self) -> None:
        """Stop background refreshes and close every channel."""
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        channels, self._channels = self._channels, {}
        self._stubs.clear()
        for channel in channels.values():
            await channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
