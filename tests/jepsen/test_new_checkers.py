"""The checkers of issue 15 on hand-made histories: each accepts a valid one and catches an
invalid one, naming what it found."""

from __future__ import annotations

from jepsen.checkers.causal import check_causal
from jepsen.checkers.counter import check_counters
from jepsen.checkers.metadata import (
    check_admin_changes, check_metadata_agreement, check_revocations, check_tenant_isolation,
)
from jepsen.checkers.set_reads import check_set_reads
from jepsen.checkers.size import check_size
from jepsen.checkers.zombie import check_zombies
from jepsen.history import Op, build


def _timed(events: list[tuple[int, str, str, str, object, float]], workload: str = "") -> list[Op]:
    """Like ``build`` but with explicit times (seconds)."""
    return [Op(i, p, t, f, k, v, at, workload) for i, (p, t, f, k, v, at) in enumerate(events)]


# -- overwrite causality ----------------------------------------------------------------

def _causal(second_version: list[int], read: object) -> list[Op]:
    return build([
        (1, "invoke", "write", "k", "a"), (1, "ok", "write", "k", ["a", [50, 1]]),
        (2, "invoke", "write", "k", "b"), (2, "ok", "write", "k", ["b", second_version]),
        (3, "invoke", "read", "k", None), (3, "ok", "read", "k", read),
    ])


def test_causal_valid_when_later_write_wins_and_read_is_current() -> None:
    result = check_causal(_causal([60, 2], ["b", [60, 2]]))
    assert result["valid"] and result["writes_acked"] == 2 and result["reads"] == 1


def test_causal_catches_write_lost_to_one_acked_before_it_began() -> None:
    # b started after a was acked, yet got a smaller version (a skewed clock): b is lost,
    # even though the versions alone say reading a is "current"
    result = check_causal(_causal([40, 2], ["a", [50, 1]]))
    assert not result["valid"] and result["lost_count"] == 1
    assert result["lost"][0]["lost"] == "b" and result["lost"][0]["to"] == "a"
    assert result["stale_count"] == 1  # the read returned a, older in real time than b


def test_causal_catches_stale_read_and_missing_value_and_phantom() -> None:
    assert check_causal(_causal([60, 2], None))["stale_count"] == 1
    assert check_causal(_causal([60, 2], ["zz", [70, 1]]))["phantom_count"] == 1


def test_causal_concurrent_writes_may_order_either_way() -> None:
    ops = build([
        (1, "invoke", "write", "k", "a"), (2, "invoke", "write", "k", "b"),
        (2, "ok", "write", "k", ["b", [40, 2]]), (1, "ok", "write", "k", ["a", [50, 1]]),
        (3, "invoke", "read", "k", None), (3, "ok", "read", "k", ["b", [40, 2]]),
    ])
    assert check_causal(ops)["valid"]  # concurrent: neither precedes the other
    stale = check_causal(_causal([60, 2], ["a", [50, 1]]))["stale"]
    assert stale[0]["newer_acked"] == "b"


# -- zombies ----------------------------------------------------------------------------

def _deletes(final: object) -> list[Op]:
    return build([
        (1, "invoke", "write", "z", "v1"), (1, "ok", "write", "z", None),
        (1, "invoke", "delete", "z", None), (1, "ok", "delete", "z", None),
        (2, "invoke", "read", "z", None), (2, "ok", "read", "z", None),
        (0, "invoke", "read", "z", None), (0, "ok", "read", "z", final),
    ])


def test_zombies_valid_when_deleted_value_stays_deleted() -> None:
    result = check_zombies(_deletes(None))
    assert result["valid"] and result["deletes_acked"] == 1 and result["reads_after_delete"] == 2


def test_zombies_catch_a_deleted_value_coming_back() -> None:
    result = check_zombies(_deletes("v1"))
    assert not result["valid"] and result["zombies"][0]["value"] == "v1"
    assert result["zombies"][0]["final"]


def test_zombies_allow_a_write_concurrent_with_the_delete() -> None:
    ops = build([
        (1, "invoke", "delete", "z", None), (2, "invoke", "write", "z", "v2"),
        (2, "ok", "write", "z", None), (1, "ok", "delete", "z", None),
        (3, "invoke", "read", "z", None), (3, "ok", "read", "z", "v2"),
    ])
    assert check_zombies(ops)["valid"]


# -- set read under load ----------------------------------------------------------------

def _set_reads(mid: list[str]) -> list[Op]:
    return build([
        (1, "invoke", "add", "", "a"), (1, "ok", "add", "", [1, 1]),
        (2, "invoke", "add", "", "b"),
        (5, "invoke", "read", "", None), (5, "ok", "read", "", mid),
        (2, "ok", "add", "", [2, 1]),
        (0, "invoke", "read", "", None), (0, "ok", "read", "", ["a", "b"]),
    ])


def test_set_reads_valid_when_every_read_holds_earlier_acks() -> None:
    result = check_set_reads(_set_reads(["a"]))  # b was not acked when the read began
    assert result["valid"] and result["reads_under_load"] == 1


def test_set_reads_catch_an_acked_element_missing_from_a_later_read() -> None:
    result = check_set_reads(_set_reads(["b"]))
    assert not result["valid"] and result["misses"][0]["missing"] == ["a"]
    assert not result["misses"][0]["final"]


# -- counters, exactly ------------------------------------------------------------------

def test_counter_exact_lost_and_duplicated() -> None:
    ops = build([
        (1, "invoke", "incr", "c", None), (1, "ok", "incr", "c", 1),
        (2, "invoke", "incr", "c", None), (2, "ok", "incr", "c", 1),   # collides: 1 lost
        (1, "invoke", "incr", "c", None), (1, "ok", "incr", "c", 2),
        (0, "invoke", "read", "c", None), (0, "ok", "read", "c", 2),
    ])
    result = check_counters(ops)
    assert result["valid"] and result["lost_updates"] == 1 and result["duplicated_updates"] == 0
    assert not check_counters(ops, lossless=True)["valid"]


def test_counter_catches_duplicated_increments() -> None:
    ops = build([
        (1, "invoke", "incr", "c", None), (1, "ok", "incr", "c", 1),
        (2, "invoke", "incr", "c", None), (2, "info", "incr", "c", None),
        (0, "invoke", "read", "c", None), (0, "ok", "read", "c", 4),
    ])
    result = check_counters(ops)
    # values 2..4 returned by nobody; one indeterminate increment explains one of them
    assert not result["valid"] and result["duplicated_updates"] == 2
    assert result["per_key"]["c"]["recovered"] == 1


def test_counter_lossless_counter_passes_strict_mode() -> None:
    ops = build([
        (1, "invoke", "incr", "c", None), (1, "ok", "incr", "c", 1),
        (2, "invoke", "incr", "c", None), (2, "ok", "incr", "c", 2),
        (0, "invoke", "read", "c", None), (0, "ok", "read", "c", 2),
    ])
    assert check_counters(ops, lossless=True)["valid"]


# -- large values -----------------------------------------------------------------------

def _size(big_error: str, neighbour_type: str, final: list[str]):
    large = _timed([
        (1, "invoke", "put", "blob0/1", 700_000, 1.0), (1, "ok", "put", "blob0/1", None, 2.0),
        (1, "invoke", "get-many", "blob0", 12, 3.0),
        (1, "info" if big_error else "ok", "get-many", "blob0", None, 5.0),
    ], "large")
    if big_error:
        large[-1] = Op(3, 1, "info", "get-many", "blob0", None, 5.0, "large", error=big_error)
    neighbour = _timed([
        (2, "invoke", "add", "", "x", 3.5), (2, neighbour_type, "add", "", "x", 4.0),
        (2, "invoke", "add", "", "y", 6.0), (2, "ok", "add", "", "y", 6.5),
        (0, "invoke", "read", "", None, 9.0), (0, "ok", "read", "", final, 9.5),
    ], "neighbour")
    return large, neighbour


def test_size_valid_when_big_answers_are_refused_cleanly() -> None:
    large, neighbour = _size("InvalidRequest: answer too large; page it", "ok", ["x", "y"])
    result = check_size(large, neighbour)
    assert result["valid"] and result["large_bytes_acked"] == 700_000


def test_size_catches_stream_reset_and_harmed_neighbour() -> None:
    large, neighbour = _size("Unavailable: node 2: RESOURCE_EXHAUSTED", "info", ["y"])
    result = check_size(large, neighbour)
    assert not result["valid"] and result["size_error_count"] == 1
    assert result["neighbour_harmed_count"] == 1 and result["neighbour_lost_count"] == 0
    # the same neighbour failure inside a fault window is the fault's, not the size's
    assert check_size(large, neighbour, fault_windows=[(3.0, 4.5)])["neighbour_harmed_count"] == 0


def test_size_catches_large_reads_failing_with_no_fault_in_force() -> None:
    large, neighbour = _size("Timeout: read answered by 1 of the 2 replicas needed", "ok",
                             ["x", "y"])
    result = check_size(large, neighbour)
    assert not result["valid"] and result["large_failed_unfaulted_count"] == 1
    assert check_size(large, neighbour, fault_windows=[(2.5, 6.0)])["valid"]


def test_size_catches_lost_neighbour_write_and_log_evidence() -> None:
    large, neighbour = _size("", "ok", ["x"])
    assert check_size(large, neighbour)["neighbour_lost"] == ["y"]
    large, neighbour = _size("", "ok", ["x", "y"])
    assert not check_size(large, neighbour, log_size_errors=1)["valid"]


# -- metadata ---------------------------------------------------------------------------

def _meta(snapshot: dict[str, dict[str, list[str]]]) -> list[Op]:
    return build([
        (1, "invoke", "create-tenant", "t1", None), (1, "ok", "create-tenant", "t1", True),
        (1, "invoke", "create-dataset", "t1/common", None),
        (1, "ok", "create-dataset", "t1/common", True),
        (1, "invoke", "create-token", "t1", None), (1, "ok", "create-token", "t1", "tok1"),
        (1, "invoke", "create-token", "t1", None), (1, "ok", "create-token", "t1", "tok2"),
        (1, "invoke", "revoke-token", "tok1", None), (1, "ok", "revoke-token", "tok1", True),
        (0, "invoke", "meta-snapshot", "", None), (0, "ok", "meta-snapshot", "", snapshot),
    ])


GOOD = {"tenants": ["t1"], "datasets": ["t1/common"], "tokens": ["tok2"]}


def test_admin_changes_valid_when_every_node_holds_them() -> None:
    result = check_admin_changes(_meta({"n1": GOOD, "n2": GOOD}))
    assert result["valid"] and result["changes_acked"] == 5
    assert check_metadata_agreement(_meta({"n1": GOOD, "n2": GOOD}))["agreed_after_s"] == 0


def test_admin_changes_catch_lost_and_contradicted() -> None:
    lost = {"tenants": [], "datasets": ["t1/common"], "tokens": ["tok2"]}
    result = check_admin_changes(_meta({"n1": GOOD, "n2": lost}))
    assert not result["valid"] and result["lost"][0] == {
        "node": "n2", "change": "create-tenant", "key": "t1", "acked_at": 1.0}
    revived = {**GOOD, "tokens": ["tok1", "tok2"]}
    result = check_admin_changes(_meta({"n1": revived}))
    assert result["contradicted"][0]["key"] == "tok1"


def test_metadata_agreement_catches_nodes_that_never_agree() -> None:
    other = {**GOOD, "tenants": ["t1", "t9"]}
    result = check_metadata_agreement(_meta({"n1": GOOD, "n2": GOOD, "n3": other}))
    assert not result["valid"] and result["differing_nodes"] == {"n3": ["tenants"]}


def test_a_node_that_refused_to_answer_agrees_with_nobody_and_hides_nothing() -> None:
    refused = {"error": "Unavailable: no metadata majority"}
    result = check_metadata_agreement(_meta({"n1": refused, "n2": GOOD, "n3": GOOD}))
    assert not result["valid"] and set(result["differing_nodes"]) == {"n1"}
    result = check_admin_changes(_meta({"n1": refused, "n2": GOOD}))
    assert not result["valid"] and result["unanswered"] == ["n1"] and not result["lost"]


def test_revocations_catch_a_token_accepted_past_the_bound() -> None:
    admin = _timed([(1, "invoke", "revoke-token", "tok1", None, 10.0),
                    (1, "ok", "revoke-token", "tok1", True, 11.0)], "admin")
    probes = _timed([(2, "invoke", "probe", "tok1", "n3", 13.0),
                     (2, "ok", "probe", "tok1", "accepted", 13.1),   # within the bound
                     (2, "invoke", "probe", "tok1", "n3", 17.0),
                     (2, "ok", "probe", "tok1", "refused", 17.1)], "revoke-probe")
    assert check_revocations(admin, probes)["valid"]
    late = probes + _timed([(2, "invoke", "probe", "tok1", "n4", 20.0),
                            (2, "ok", "probe", "tok1", "accepted", 20.1)], "revoke-probe")
    result = check_revocations(admin, late)
    assert not result["valid"] and result["accepted_late"] == [
        {"token": "tok1", "node": "n4", "after_s": 9.0}]


def test_tenant_isolation_catches_a_foreign_value() -> None:
    ops = build([
        (1, "invoke", "read", "t1/k", None), (1, "ok", "read", "t1/k", "t1|5"),
        (2, "invoke", "read", "t2/k", None), (2, "ok", "read", "t2/k", None),
    ])
    assert check_tenant_isolation(ops)["valid"]
    bad = ops + build([(3, "invoke", "read", "t2/k", None), (3, "ok", "read", "t2/k", "t1|5")])
    result = check_tenant_isolation(bad)
    assert not result["valid"] and result["foreign"][0]["tenant"] == "t2"


def test_admin_changes_follow_a_dataset_name_from_owner_to_owner() -> None:
    ops = build([
        (1, "invoke", "create-dataset", "t1/d0", None), (1, "ok", "create-dataset", "t1/d0", True),
        (1, "invoke", "drop-dataset", "t1/d0", None), (1, "ok", "drop-dataset", "t1/d0", True),
        (1, "invoke", "create-dataset", "t2/d0", None), (1, "ok", "create-dataset", "t2/d0", True),
        (1, "invoke", "create-dataset", "t2/d1", None), (1, "ok", "create-dataset", "t2/d1", True),
        (1, "invoke", "drop-dataset", "t2/d1", None), (1, "ok", "drop-dataset", "t2/d1", True),
        (0, "invoke", "meta-snapshot", "", None),
        (0, "ok", "meta-snapshot", "", {"n1": {"datasets": ["t2/d0"]}}),
    ])
    assert check_admin_changes(ops)["valid"]
    stale = ops[:-1] + [Op(len(ops) - 1, 0, "ok", "meta-snapshot", "",
                           {"n1": {"datasets": ["t1/d0", "t2/d1"]}}, float(len(ops) - 1))]
    result = check_admin_changes(stale)
    assert not result["valid"] and result["lost"][0]["key"] == "t2/d0"
    assert result["contradicted"][0]["key"] == "t2/d1"


def _revoke_of_tok2(outcome: str, tokens: list[str]) -> list[Op]:
    """``_meta`` plus a revoke of tok2 that ended ``outcome``, then a snapshot listing
    ``tokens`` (the history of seed 1567425195: "outcome unknown (the leader changed)")."""
    snap = {**GOOD, "tokens": tokens}
    ops = _meta({"n1": snap})
    revoke = build([(1, "invoke", "revoke-token", "tok2", None),
                    (1, outcome, "revoke-token", "tok2", None)])
    return ops[:-2] + revoke + ops[-2:]


def test_admin_changes_allow_a_token_whose_revoke_may_have_happened() -> None:
    # indeterminate: the token may be gone or still listed
    assert check_admin_changes(_revoke_of_tok2("info", []))["valid"]
    assert check_admin_changes(_revoke_of_tok2("info", ["tok2"]))["valid"]
    # failed (nothing was sent): the token must still be there
    result = check_admin_changes(_revoke_of_tok2("fail", []))
    assert not result["valid"] and result["lost"][0]["key"] == "tok2"
    # acknowledged: gone, and a listing contradicts it
    assert check_admin_changes(_revoke_of_tok2("ok", []))["valid"]
    assert check_admin_changes(_revoke_of_tok2("ok", ["tok2"]))["contradicted_count"] == 1
