"""Single-node suite: the SDK against one real node, next to the floors it sits on.

Everything runs in one invocation, against a node and an echo server that are
each a child process on loopback:

* unary, blocking client: a bare grpc unary echo of a 100-byte payload (the
  baseline) vs sequential SDK ``get`` and ``put`` of 100-byte values, BUFFERED
  (non-durable: in the WAL, not fsynced) and SYNC (fsynced before the ack).
  The same Get/Put through the generated stub without the SDK are shown too,
  to split the SDK's cost from the node's.
* unary, asyncio client: a grpc.aio echo client vs AsyncClient get and put.
* batch: MultiPut of 1,000 records vs an in-process rocksdict WriteBatch of
  1,000 puts of the same key and value sizes (records/s).

Targets (from the issue): get >= 0.8x echo, BUFFERED put >= 0.7x echo,
MultiPut >= 0.5x the in-process WriteBatch. Reported, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import grpc
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from manhattan.bench.common import Case, Result, Settings, compare, make_result, measure_group, \
    measure_group_async
from manhattan.bench.echo import EchoProcess, aio_echo, sync_echo
from manhattan.client import AsyncClient, Client, Durability, Put
from manhattan.node.process import NodeProcess
from manhattan.proto.v1 import data_pb2, data_pb2_grpc

NAME = "single_node"
TITLE = "Single node (one node process, one client thread, loopback)"

VALUE_BYTES = 100
BATCH = 1_000
KEY_SPACE = 10_000  # distinct keys cycled through by get and put
TENANT, DATASET = "bench", "kv"

GET_TARGET = 0.8
PUT_TARGET = 0.7
MULTIPUT_TARGET = 0.5

VALUE = os.urandom(VALUE_BYTES)
# 8-byte pkey + 8-byte lkey: ~16-byte keys, as in the in-process baseline.
GET_KEYS = [(b"g%07d" % i, b"l%07d" % i) for i in range(KEY_SPACE)]
PUT_KEYS = [(b"p%07d" % i, b"l%07d" % i) for i in range(KEY_SPACE)]
BATCH_LKEYS = [b"l%07d" % i for i in range(BATCH)]

Progress = Callable[[str], None]


def _setup_dataset(address: str, admin_token: str) -> str:
    """Create the tenant and dataset; fill the keys that get reads. Returns the token."""
    with Client([address], token=admin_token) as admin:
        token = admin.admin.create_tenant(TENANT)
        admin.admin.create_dataset(DATASET, tenant=TENANT)
    with Client([address], token=token) as client:
        ds = client.dataset(DATASET)
        for start in range(0, KEY_SPACE, BATCH):
            ds.put_many([Put(p, l, VALUE) for p, l in GET_KEYS[start:start + BATCH]],
                        durability=Durability.SYNC)
    return token


# -- unary, blocking client ---------------------------------------------------------


def _unary_sync(node: str, echo: str, token: str, settings: Settings,
                progress: Progress) -> list[Result]:
    metadata = (("authorization", f"Bearer {token}"),)
    with Client([node], token=token) as client, \
            grpc.insecure_channel(echo) as echo_channel, \
            grpc.insecure_channel(node) as raw_channel:
        ds = client.dataset(DATASET)
        echo_call = sync_echo(echo_channel)
        stub = data_pb2_grpc.DataStub(raw_channel)
        payload = VALUE
        n = KEY_SPACE
        buffered, durable = Durability.BUFFERED, Durability.SYNC

        def echo_op(i: int) -> None:
            echo_call(payload)

        def get_op(i: int) -> None:
            pkey, lkey = GET_KEYS[i % n]
            if ds.get(pkey, lkey) is None:
                raise RuntimeError(f"benchmark key {pkey!r}/{lkey!r} is missing")

        def put_op(i: int) -> None:
            pkey, lkey = PUT_KEYS[i % n]
            ds.put(pkey, lkey, payload, durability=buffered)

        def put_sync_op(i: int) -> None:
            pkey, lkey = PUT_KEYS[i % n]
            ds.put(pkey, lkey, payload, durability=durable)

        def raw_get_op(i: int) -> None:
            pkey, lkey = GET_KEYS[i % n]
            stub.Get(data_pb2.GetRequest(dataset=DATASET, pkey=pkey, lkey=lkey),
                     metadata=metadata)

        def raw_put_op(i: int) -> None:
            pkey, lkey = PUT_KEYS[i % n]
            stub.Put(data_pb2.PutRequest(dataset=DATASET, pkey=pkey, lkey=lkey, value=payload,
                                         durability=int(buffered)), metadata=metadata)

        cases = [
            Case("grpc echo, 100 B (sync client)", echo_op,
                 note="bare grpc.aio echo server in its own process (generic bytes handler); "
                      "sync grpc client, no metadata, no deadline"),
            Case("SDK get, 100 B", get_op),
            Case("SDK put BUFFERED, 100 B", put_op,
                 note="non-durable: in the WAL, not fsynced"),
            Case("SDK put SYNC, 100 B", put_sync_op,
                 note="durable: fsynced (group commit) before the ack; reported, no target"),
            Case("stub Get (no SDK)", raw_get_op,
                 note="generated stub + bearer token, no SDK: splits the SDK's cost from "
                      "the node's"),
            Case("stub Put BUFFERED (no SDK)", raw_put_op,
                 note="generated stub + bearer token, no SDK"),
        ]
        measure_group(cases, settings, progress)

    echo_r, get_r, put_r, sync_r, raw_get_r, raw_put_r = (
        make_result(NAME, c.name, c.sample, note=c.note) for c in cases
    )
    echo_r.is_baseline = True
    return [
        echo_r,
        compare(get_r, echo_r, GET_TARGET),
        compare(put_r, echo_r, PUT_TARGET),
        compare(sync_r, echo_r),
        compare(raw_get_r, echo_r),
        compare(raw_put_r, echo_r),
    ]


# -- unary, asyncio client ------------------------------------------------------------


async def _unary_async(node: str, echo: str, token: str, settings: Settings,
                       progress: Progress) -> list[Result]:
    async with AsyncClient([node], token=token) as client, \
            grpc.aio.insecure_channel(echo) as echo_channel:
        ds = client.dataset(DATASET)
        echo_call = aio_echo(echo_channel)
        payload = VALUE
        n = KEY_SPACE
        buffered = Durability.BUFFERED

        async def echo_op(i: int) -> None:
            await echo_call(payload)

        async def get_op(i: int) -> None:
            pkey, lkey = GET_KEYS[i % n]
            if await ds.get(pkey, lkey) is None:
                raise RuntimeError(f"benchmark key {pkey!r}/{lkey!r} is missing")

        async def put_op(i: int) -> None:
            pkey, lkey = PUT_KEYS[i % n]
            await ds.put(pkey, lkey, payload, durability=buffered)

        cases = [
            Case("grpc.aio echo, 100 B (aio client)", echo_op,
                 note="same echo server; grpc.aio client, one request in flight"),
            Case("AsyncClient get, 100 B", get_op),
            Case("AsyncClient put BUFFERED, 100 B", put_op, note="non-durable"),
        ]
        await measure_group_async(cases, settings, progress)

    echo_r, get_r, put_r = (make_result(NAME, c.name, c.sample, note=c.note) for c in cases)
    echo_r.is_baseline = True
    return [echo_r, compare(get_r, echo_r, GET_TARGET), compare(put_r, echo_r, PUT_TARGET)]


# -- batches --------------------------------------------------------------------------


def _batches(node: str, token: str, scratch: Path, settings: Settings,
             progress: Progress) -> list[Result]:
    db = Rdict(str(scratch / "writebatch"), Options(raw_mode=True))
    unsynced = WriteOptions()  # sync=False: the same promise as BUFFERED
    try:
        with Client([node], token=token) as client:
            ds = client.dataset(DATASET)
            lkeys, value = BATCH_LKEYS, VALUE
            buffered = Durability.BUFFERED

            def writebatch_op(i: int) -> None:
                pkey = b"m%07d" % i
                wb = WriteBatch(raw_mode=True)
                for lkey in lkeys:
                    wb.put(pkey + lkey, value)
                db.write(wb, unsynced)

            def multiput_op(i: int) -> None:
                pkey = b"m%07d" % i
                ds.put_many([Put(pkey, lkey, value) for lkey in lkeys], durability=buffered)

            cases = [
                Case("rocksdict WriteBatch x1000, in-process", writebatch_op, per_call=BATCH,
                     note="Rdict(raw_mode) in this process, 16 B keys, 100 B values, "
                          "sync=False; ops/s counts records, latency is per batch"),
                Case("SDK MultiPut x1000 BUFFERED", multiput_op, per_call=BATCH,
                     note="put_many of 1,000 Puts (8 B pkey + 8 B lkey, 100 B value)"),
            ]
            measure_group(cases, settings, progress)
    finally:
        db.close()

    wb_r, mp_r = (make_result(NAME, c.name, c.sample, per_call=c.per_call, note=c.note)
                  for c in cases)
    wb_r.is_baseline = True
    return [wb_r, compare(mp_r, wb_r, MULTIPUT_TARGET)]


# -- the suite ------------------------------------------------------------------------


def run(settings: Settings, progress: Progress = lambda _msg: None,
        workdir: Path | None = None) -> list[Result]:
    """Start a node and an echo server, measure every group, stop both."""
    with tempfile.TemporaryDirectory(prefix="manhattan-bench-", dir=workdir) as tmp:
        scratch = Path(tmp)
        node = NodeProcess(data_dir=scratch / "data", node_id=1)
        echo = EchoProcess()
        try:
            progress("starting node and echo server")
            node.start()
            echo.start()
            progress("creating the dataset")
            token = _setup_dataset(node.address, node.admin_token())
            results = _unary_sync(node.address, echo.address, token, settings, progress)
            results += asyncio.run(
                _unary_async(node.address, echo.address, token, settings, progress))
            results += _batches(node.address, token, scratch, settings, progress)
            return results
        finally:
            echo.stop()
            code = node.stop()
            if code not in (0, None):
                print(f"warning: node exited with code {code}; log:\n{node.log_tail()}",
                      file=sys.stderr)
