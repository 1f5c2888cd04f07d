"""The real SDK against a real node, held against a plain dict (hypothesis stateful)."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from manhattan.client import Client, Delete, Put

# Small alphabets so that rules collide on the same keys; byte-order edges on purpose.
PKEYS = st.sampled_from([b"p", b"p\x00", b"q", b"\xff"])
LKEYS = st.sampled_from([b"", b"\x00", b"a", b"a\x00", b"ab", b"b", b"\x7f", b"\xff"])
BOUNDS = st.none() | LKEYS
VALUES = st.binary(max_size=16) | st.text(max_size=8)
KEYS = st.tuples(PKEYS, LKEYS)

Key = tuple[bytes, bytes]


def as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class SdkModel(RuleBasedStateMachine):
    """Each run gets a dataset of its own; ``admin``/``endpoint``/``token`` are set by the test."""

    admin: Client
    endpoint: str
    token: str
    tenant: str

    def __init__(self) -> None:
        super().__init__()
        self.name = f"model-{uuid.uuid4().hex[:12]}"
        self.admin.admin.create_dataset(self.name, tenant=self.tenant)
        self.client = Client([self.endpoint], token=self.token)
        self.ds = self.client.dataset(self.name)
        self.model: dict[Key, bytes] = {}

    def teardown(self) -> None:
        self.client.close()
        self.admin.admin.drop_dataset(self.name)

    # -- writes -------------------------------------------------------------------------

    @rule(key=KEYS, value=VALUES)
    def put(self, key: Key, value: bytes | str) -> None:
        self.ds.put(key[0], key[1], value)
        self.model[key] = as_bytes(value)

    @rule(key=KEYS)
    def delete(self, key: Key) -> None:
        self.ds.delete(*key)
        self.model.pop(key, None)

    @rule(items=st.lists(
        st.one_of(
            st.builds(lambda k, v: Put(k[0], k[1], v), KEYS, VALUES),
            st.builds(lambda k: Delete(k[0], k[1]), KEYS),
            st.builds(lambda k, v: (k[0], k[1], v), KEYS, VALUES),
        ),
        max_size=8,
    ))
    def put_many(self, items: list) -> None:
        versions = self.ds.put_many(items)
        assert len(versions) == len(items)
        assert versions == sorted(versions)
        for item in items:  # later mutations of the same key win
            if isinstance(item, Delete):
                self.model.pop((item.pkey, item.lkey), None)
            elif isinstance(item, Put):
                self.model[(item.pkey, item.lkey)] = as_bytes(item.value)
            else:
                self.model[(item[0], item[1])] = as_bytes(item[2])

    # -- reads --------------------------------------------------------------------------

    @rule(key=KEYS)
    def get(self, key: Key) -> None:
        record = self.ds.get(*key)
        expected = self.model.get(key)
        assert (record.value if record else None) == expected
        if record is not None:
            assert (record.pkey, record.lkey) == key

    @rule(keys=st.lists(KEYS, max_size=10))
    def get_many(self, keys: list[Key]) -> None:
        records = self.ds.get_many(keys)
        assert [r.value if r else None for r in records] == [self.model.get(k) for k in keys]

    @rule(pkey=PKEYS, start=BOUNDS, end=BOUNDS, reverse=st.booleans(),
          limit=st.integers(min_value=1, max_value=12))
    def scan(self, pkey: bytes, start: bytes | None, end: bytes | None, reverse: bool,
             limit: int) -> None:
        records = self.ds.scan(pkey, start=start, end=end, reverse=reverse, limit=limit)
        expected = sorted(
            ((lk, v) for (p, lk), v in self.model.items()
             if p == pkey and (start is None or lk >= start) and (end is None or lk < end)),
            reverse=reverse,
        )[:limit]
        assert [(r.lkey, r.value) for r in records] == expected
        assert all(r.pkey == pkey for r in records)

    @rule(pkey=PKEYS, reverse=st.booleans(), page_size=st.integers(min_value=1, max_value=3))
    def paginate(self, pkey: bytes, reverse: bool, page_size: int) -> None:
        records = list(self.ds.iter_scan(pkey, reverse=reverse, page_size=page_size))
        expected = sorted(((lk, v) for (p, lk), v in self.model.items() if p == pkey),
                          reverse=reverse)
        assert [(r.lkey, r.value) for r in records] == expected


def test_sdk_behaves_like_a_dict(admin: Client, node) -> None:
    tenant = f"model-{uuid.uuid4().hex[:12]}"
    token = admin.admin.create_tenant(tenant)
    SdkModel.admin, SdkModel.endpoint, SdkModel.token, SdkModel.tenant = (
        admin, node.address, token, tenant)
    run_state_machine_as_test(SdkModel, settings=settings(
        max_examples=25, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow], database=None,
    ))
    assert admin.admin.list_datasets(tenant) == []  # every run dropped its dataset
