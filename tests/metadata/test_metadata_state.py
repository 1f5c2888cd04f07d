"""The metadata state machine on its own: deterministic, all-or-nothing, clock-free."""

from __future__ import annotations

from dataclasses import asdict

from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.metadata import MetadataState
from manhattan.tenancy.tokens import new_token


def tenant_command(name: str, now_ms: int = 1) -> dict:
    _, record = new_token(name, now_ms)
    return {"op": "create_tenant", "name": name, "now_ms": now_ms, "token": asdict(record)}


def dataset_command(name: str, tenant: str) -> dict:
    return {"op": "create_dataset", "spec": {
        "name": name, "tenant": tenant, "replication_factor": 1, "read_consistency": 1,
        "write_consistency": 2, "durability": 1, "default_ttl_ms": 0, "created_at_ms": 1}}


def test_a_refused_command_changes_nothing_and_says_why():
    state = MetadataState()
    assert "error" not in state.apply(tenant_command("acme")).result
    before = state.dump()["items"]
    applied = state.apply(tenant_command("acme"))
    assert applied.result["error"][0] == "AlreadyExists" and applied.changes == ()
    assert state.dump()["items"] == before


def test_two_tenants_each_own_a_dataset_of_one_name_with_storage_of_their_own():
    state = MetadataState()
    for name in ("acme", "globex"):
        state.apply(tenant_command(name))
    acme = state.apply(dataset_command("events", "acme")).result["spec"]
    globex = state.apply(dataset_command("events", "globex")).result["spec"]
    assert acme["incarnation"] != globex["incarnation"]
    assert {d.storage_id for d in state.catalog.datasets()} == {
        f"events@{acme['incarnation']}", f"events@{globex['incarnation']}"}
    again = state.apply(dataset_command("events", "globex")).result["error"]
    assert again[0] == "AlreadyExists" and "acme" not in again[1]


def test_an_admin_names_the_owner_when_several_tenants_own_a_name():
    state = MetadataState()
    for name in ("acme", "globex"):
        state.apply(tenant_command(name))
        state.apply(dataset_command("events", name))
    ambiguous = state.apply({"op": "drop_dataset", "name": "events"}).result["error"]
    assert ambiguous[0] == "InvalidRequest" and "name the tenant" in ambiguous[1]
    dropped = state.apply({"op": "drop_dataset", "name": "events", "tenant": "globex"})
    assert dropped.result["spec"]["tenant"] == "globex"
    assert [d.tenant for d in state.catalog.datasets()] == ["acme"]
    assert "error" not in state.apply({"op": "drop_dataset", "name": "acme/events"}).result


def test_a_token_scope_never_says_another_tenant_owns_the_name():
    state = MetadataState()
    for name in ("acme", "globex"):
        state.apply(tenant_command(name))
    state.apply(dataset_command("secret", "acme"))
    _, record = new_token("globex", 1, datasets=["secret"])
    refused = state.apply({"op": "create_token", "token": asdict(record),
                           "max_tokens": 10}).result["error"]
    assert refused[0] == "InvalidRequest" and "acme" not in refused[1]


def test_a_tenant_dropped_and_created_again_is_another_tenant():
    state = MetadataState()
    first = state.apply(tenant_command("acme")).result["tenant"]["incarnation"]
    state.apply(dataset_command("events", "acme"))
    state.apply({"op": "set_limits", "tenant": "acme", "dataset": "",
                 "changes": {"ops_per_second": 5, "burst_seconds": 1}})
    old_token = state.tokens.records("acme")[0]
    dropped = state.apply({"op": "drop_tenant", "name": "acme"}).result
    assert [d["name"] for d in dropped["datasets"]] == ["events"]
    assert state.catalog.datasets() == [] and state.tokens.records() == []
    assert state.limits.tenant("acme").unlimited
    second = state.apply(tenant_command("acme")).result["tenant"]["incarnation"]
    assert first and second and first != second
    new_token_record = state.tokens.records("acme")[0]
    assert new_token_record.tenant_incarnation == second
    assert old_token.tenant_incarnation == first
    assert state.apply({"op": "drop_tenant", "name": "nobody"}).result["error"][0] == "NotFound"


def test_every_creation_of_a_name_is_another_incarnation():
    state = MetadataState()
    state.apply(tenant_command("acme"))
    first = state.apply(dataset_command("events", "acme")).result["spec"]["incarnation"]
    state.apply({"op": "drop_dataset", "name": "events"})
    second = state.apply(dataset_command("events", "acme")).result["spec"]["incarnation"]
    assert first and second and first != second
    spec = state.catalog.dataset("acme", "events")
    assert spec.storage_id == f"events@{second}"


def test_a_revoke_stamped_by_a_slow_clock_still_wins():
    state = MetadataState()
    state.apply(tenant_command("acme", now_ms=10**13))  # issued by a node far ahead
    token_id = state.tokens.records("acme")[0].token_id
    assert "error" not in state.apply({"op": "revoke_token", "token_id": token_id}).result
    assert state.tokens.records("acme") == []


def test_the_catalog_of_the_previous_version_is_imported_once():
    old = MetadataState()
    old.apply(tenant_command("acme"))
    items = [(i.key, i.value.decode("latin-1")) for i in old.items.snapshot()]
    state = MetadataState()
    assert state.apply({"op": "import", "items": items}).result["imported"] == 2
    assert state.apply({"op": "import", "items": items}).result["imported"] == 0
    assert [t.name for t in state.catalog.tenants()] == ["acme"]


names = st.sampled_from(["a", "b", "c"])
commands = st.one_of(
    names.map(tenant_command),
    st.tuples(names, names).map(lambda p: dataset_command(p[0], p[1])),
    st.tuples(names, names).map(lambda p: {"op": "drop_dataset", "name": p[0],
                                           "tenant": p[1]}),
    names.map(lambda n: {"op": "drop_tenant", "name": n}),
    st.tuples(names, st.integers(0, 3)).map(
        lambda p: {"op": "set_limits", "tenant": p[0], "dataset": "",
                   "changes": {"ops_per_second": p[1], "burst_seconds": 1}}),
    st.just({"op": "no-such-command"}),
    st.just({"op": "create_dataset", "spec": {"name": "x"}}),  # malformed
)


@settings(max_examples=60, deadline=None)
@given(st.lists(commands, max_size=25), st.integers(0, 25))
def test_replicas_fed_one_log_converge_even_through_a_snapshot(log, cut):
    straight = MetadataState()
    results = [straight.apply(c).result for c in log]
    first = MetadataState()
    for command in log[:cut]:
        first.apply(command)
    restored = MetadataState.load(first.dump())  # a follower that took a snapshot
    replayed = [restored.apply(c).result for c in log[cut:]]
    assert replayed == results[cut:]
    assert restored.dump() == straight.dump()


def test_voter_endpoints_accumulate_and_a_malformed_one_is_refused():
    state = MetadataState()
    first = state.apply({"op": "voter_endpoints", "endpoints": {"1": "127.0.0.1:8101"}})
    assert first.result == {"endpoints": {"1": "127.0.0.1:8101"}}
    second = state.apply({"op": "voter_endpoints", "endpoints": {"4": "127.0.0.1:8104"}})
    assert second.result == {"endpoints": {"1": "127.0.0.1:8101", "4": "127.0.0.1:8104"}}
    assert [i.key for i in second.changes] == ["topology/voters"]
    before = state.dump()["items"]
    refused = state.apply({"op": "voter_endpoints", "endpoints": {"5": "no-port"}})
    assert refused.result["error"][0] == "InvalidRequest" and "id=host:port" in \
        refused.result["error"][1]
    assert state.dump()["items"] == before


def _member(node_id: int, state: str = "normal") -> dict:
    return {"id": node_id, "address": f"127.0.0.1:{7100 + node_id}", "zone": "default",
            "weight": 1, "state": state}


def test_a_switch_leaves_its_voter_change_pending_until_a_driver_settles_it():
    state = MetadataState()
    base = {"epoch": 1, "members": [_member(1), _member(2), _member(3)]}
    begun = state.apply({"op": "topology_begin", "kind": "REPLACE", "base": base,
                         "members": [_member(1), _member(2), _member(3, "leaving"),
                                     _member(4, "joining")]}).result["topology"]
    change_id = begun["change"]["id"]
    switched = state.apply({"op": "topology_switch"}).result["topology"]
    assert switched["voters_pending"] == {
        "change": change_id, "joined": [4],
        "leaving": [{"id": 3, "address": "127.0.0.1:7103"}]}
    # no new change while the voters of the last one are unsettled (one at a time)
    after = {"epoch": switched["epoch"], "members": switched["members"]}
    refused = state.apply({"op": "topology_begin", "kind": "ADD", "base": after,
                           "members": [*switched["members"], _member(5, "joining")]})
    assert refused.result["error"][0] == "StaleTopology"
    assert "not settled" in refused.result["error"][1]
    assert state.apply({"op": "voters_settled", "change_id": change_id + 99}).result == {
        "settled": False}
    assert state.apply({"op": "voters_settled", "change_id": change_id}).result == {
        "settled": True}
    assert state.apply({"op": "voters_settled", "change_id": change_id}).result == {
        "settled": False}  # a second driver finishing it too: a no-op
    assert "error" not in state.apply({"op": "topology_begin", "kind": "ADD", "base": after,
                                       "members": [*switched["members"],
                                                   _member(5, "joining")]}).result


@settings(max_examples=60, deadline=None)
@given(st.lists(commands, max_size=20), st.lists(st.integers(0, 19), max_size=10),
       st.integers(0, 30))
def test_a_command_sent_again_under_its_id_applies_once_and_answers_as_the_first(
        log, repeats, cut):
    # Each command carries an id; some are sent again later (a copy lost to a leader
    # change), possibly across a snapshot. The state is as if each applied once.
    with_ids = [{**command, "id": f"c{i}"} for i, command in enumerate(log)]
    once = MetadataState()
    first_results = {c["id"]: once.apply(c).result for c in with_ids}
    resent = with_ids + [with_ids[i] for i in repeats if i < len(with_ids)]
    state = MetadataState()
    for position, command in enumerate(resent):
        if position == cut:
            state = MetadataState.load(state.dump())
        applied = state.apply(command)
        assert applied.result == first_results[command["id"]]
        if position >= len(with_ids):
            assert applied.changes == ()
    assert state.dump()["items"] == once.dump()["items"]


def test_only_the_newest_outcomes_are_remembered():
    from manhattan.metadata.state import REMEMBERED_OUTCOMES
    state = MetadataState()
    for i in range(REMEMBERED_OUTCOMES + 5):
        state.apply({"op": "set_limits", "tenant": "nobody", "dataset": "",
                     "changes": {}, "id": f"c{i}"})
    assert len(state.outcomes) == REMEMBERED_OUTCOMES
    assert "c0" not in state.outcomes and f"c{REMEMBERED_OUTCOMES + 4}" in state.outcomes
    assert MetadataState.load(state.dump()).outcomes == state.outcomes
