"""The stored Paxos state: its codec round-trips every state, and the engine keeps it per
dataset (apart from records) until the dataset is dropped."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.storage import Entry, RocksEngine, Version
from manhattan.storage.paxos_state import PaxosState, Proposal, decode_state, encode_state

versions = st.builds(Version, st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1),
                     superseded=st.just(0))
entries = st.builds(Entry, versions, st.binary(max_size=64), st.integers(0, 2**64 - 1),
                    st.booleans()).map(
    lambda e: Entry(e.version, b"" if e.tombstone else e.value, e.expires_at_ms, e.tombstone))
proposals = st.none() | st.builds(Proposal, versions, st.none() | entries)
states = st.builds(PaxosState, versions, proposals, proposals)


@settings(max_examples=200)
@given(states)
def test_the_codec_round_trips_every_state(state: PaxosState) -> None:
    assert decode_state(encode_state(state)) == state


def test_state_is_per_dataset_apart_from_records_and_dropped_with_it(tmp_path) -> None:
    engine = RocksEngine(tmp_path / "db")
    try:
        engine.create_dataset("a")
        engine.create_dataset("b")
        promised = PaxosState(Version(7, 1))
        engine.paxos_update("a", b"p", b"l", lambda state: (promised, True))
        assert engine.paxos_state("a", b"p", b"l") == promised
        assert engine.paxos_state("b", b"p", b"l") == PaxosState()
        assert engine.scan("a", b"p").records == []  # not a record
        engine.drop_dataset("a")
        engine.create_dataset("a")
        assert engine.paxos_state("a", b"p", b"l") == PaxosState()
    finally:
        engine.close()
