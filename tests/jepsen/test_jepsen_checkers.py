"""The checkers on hand-made histories: each must accept a valid one and catch an invalid one."""

from __future__ import annotations

import math

from jepsen.checkers.convergence import check_convergence
from jepsen.checkers.counter import check_counters
from jepsen.checkers.linearizable import check_linearizable, check_register
from jepsen.checkers.session import check_sessions
from jepsen.checkers.set_checker import check_set
from jepsen.checkers.versions import check_versions
from jepsen.history import History, build


# -- set ---------------------------------------------------------------------------------

def _set_history(final: list[str]):
    return build([
        (1, "invoke", "add", "", "a"), (1, "ok", "add", "", "a"),
        (2, "invoke", "add", "", "b"), (2, "info", "add", "", "b"),
        (3, "invoke", "add", "", "c"), (3, "fail", "add", "", "c"),
        (4, "invoke", "add", "", "d"), (4, "ok", "add", "", "d"),
        (9, "invoke", "read", "", None), (9, "ok", "read", "", final),
    ])


def test_set_valid_with_recovered_indeterminate_add() -> None:
    result = check_set(_set_history(["a", "b", "d"]))
    assert result["valid"] and result["lost_count"] == 0 and result["recovered_count"] == 1


def test_set_catches_lost_acked_add() -> None:
    result = check_set(_set_history(["a", "b"]))
    assert not result["valid"] and result["lost"] == ["d"]


def test_set_catches_phantom_and_reports_failed_but_present() -> None:
    result = check_set(_set_history(["a", "c", "d", "zz"]))
    assert not result["valid"] and result["unexpected"] == ["zz"]
    assert result["failed_present"] == ["c"]


def test_set_without_final_read_is_invalid() -> None:
    assert not check_set(_set_history([])[:-2])["valid"]


# -- versions ----------------------------------------------------------------------------

def _reg(read_result):
    return build([
        (1, "invoke", "write", "k", "v1"), (1, "ok", "write", "k", ["v1", [10, 1]]),
        (2, "invoke", "write", "k", "v2"), (2, "ok", "write", "k", ["v2", [20, 2]]),
        (3, "invoke", "read", "k", None), (3, "ok", "read", "k", read_result),
    ])


def test_versions_valid_read_of_newest() -> None:
    result = check_versions(_reg(["v2", [20, 2]]), strict=True)
    assert result["valid"] and result["reads"] == 1


def test_versions_catches_stale_read_when_strict_only() -> None:
    assert not check_versions(_reg(["v1", [10, 1]]), strict=True)["valid"]
    loose = check_versions(_reg(["v1", [10, 1]]), strict=False)
    assert loose["valid"] and loose["stale_count"] == 0


def test_versions_catches_missing_value_as_stale() -> None:
    assert check_versions(_reg(None), strict=True)["stale_count"] == 1


def test_versions_catches_phantom_value() -> None:
    result = check_versions(_reg(["never", [30, 1]]), strict=False)
    assert not result["valid"] and result["phantom_count"] == 1


def test_versions_reports_a_write_applied_twice_under_another_version() -> None:
    result = check_versions(_reg(["v2", [21, 2]]), strict=True)
    assert result["duplicate_count"] == 1 and result["phantom_count"] == 0


def test_versions_reports_realtime_inversion() -> None:
    ops = build([
        (1, "invoke", "write", "k", "a"), (1, "ok", "write", "k", ["a", [50, 1]]),
        (2, "invoke", "write", "k", "b"), (2, "ok", "write", "k", ["b", [40, 2]]),
    ])
    assert check_versions(ops, strict=True)["realtime_inversions"] == 1


# -- sessions ----------------------------------------------------------------------------

def test_sessions_valid() -> None:
    ops = build([
        (1, "invoke", "write", "k", "a"), (1, "ok", "write", "k", ["a", [10, 1]]),
        (1, "invoke", "read", "k", None), (1, "ok", "read", "k", ["a", [10, 1]]),
        (2, "invoke", "read", "k", None), (2, "ok", "read", "k", None),
        (2, "invoke", "read", "k", None), (2, "ok", "read", "k", ["a", [10, 1]]),
    ])
    assert check_sessions(ops, strict=True)["valid"]


def test_sessions_catch_read_your_writes() -> None:
    ops = build([
        (1, "invoke", "write", "k", "a"), (1, "ok", "write", "k", ["a", [10, 1]]),
        (1, "invoke", "read", "k", None), (1, "ok", "read", "k", None),
    ])
    result = check_sessions(ops, strict=True)
    assert not result["valid"] and result["ryw_violations"] == 1
    assert check_sessions(ops, strict=False)["valid"]


def test_sessions_catch_non_monotonic_reads() -> None:
    ops = build([
        (1, "invoke", "write", "k", "a"), (1, "ok", "write", "k", ["a", [10, 1]]),
        (1, "invoke", "write", "k", "b"), (1, "ok", "write", "k", ["b", [20, 1]]),
        (2, "invoke", "read", "k", None), (2, "ok", "read", "k", ["b", [20, 1]]),
        (2, "invoke", "read", "k", None), (2, "ok", "read", "k", ["a", [10, 1]]),
    ])
    result = check_sessions(ops, strict=True)
    assert not result["valid"] and result["monotonic_violations"] == 1


def test_sessions_allow_unseeing_a_write_that_was_never_acknowledged() -> None:
    # Found by the smoke: a W=ALL write that timed out landed on one replica; a read at
    # ONE saw it, the next read (another replica) did not. R+W>N says nothing about it.
    ops = build([
        (1, "invoke", "write", "k", "a"), (1, "ok", "write", "k", ["a", [10, 1]]),
        (3, "invoke", "write", "k", "b"), (3, "info", "write", "k", None),
        (2, "invoke", "read", "k", None), (2, "ok", "read", "k", ["b", [20, 1]]),
        (2, "invoke", "read", "k", None), (2, "ok", "read", "k", ["a", [10, 1]]),
    ])
    assert check_sessions(ops, strict=True)["valid"]


# -- counters ----------------------------------------------------------------------------

def test_counters_report_lost_updates_without_failing() -> None:
    ops = build([
        (1, "invoke", "incr", "c", None), (1, "ok", "incr", "c", 1),
        (2, "invoke", "incr", "c", None), (2, "ok", "incr", "c", 1),
        (3, "invoke", "read", "c", None), (3, "ok", "read", "c", 1),
    ])
    result = check_counters(ops)
    assert result["valid"] and result["lost_updates"] == 1


def test_counters_flag_impossible_final_value() -> None:
    ops = build([
        (1, "invoke", "incr", "c", None), (1, "ok", "incr", "c", 1),
        (3, "invoke", "read", "c", None), (3, "ok", "read", "c", 5),
    ])
    assert not check_counters(ops)["valid"]


# -- convergence -------------------------------------------------------------------------

def test_convergence_valid_when_replicas_agree_and_are_current() -> None:
    d = (20, 2, False, "h")
    assert check_convergence({"k": {"n1": d, "n2": d, "n3": d}}, {"k": (20, 2)})["valid"]


def test_convergence_catches_divergence_and_replica_behind_ack() -> None:
    a, b = (20, 2, False, "h"), (10, 1, False, "g")
    result = check_convergence({"k": {"n1": a, "n2": a, "n3": b}}, {"k": (20, 2)})
    assert not result["valid"] and result["divergent_count"] == 1 and result["behind_count"] == 1
    same_old = check_convergence({"k": {"n1": b, "n2": b}}, {"k": (20, 2)})
    assert not same_old["valid"] and same_old["divergent_count"] == 0
    missing = check_convergence({"k": {"n1": a, "n2": None}}, {})
    assert missing["divergent_count"] == 1


# -- linearizability ---------------------------------------------------------------------

def test_register_linearizable_concurrent_ops() -> None:
    # w(1) overlaps r->2 and w(2): valid if w1, w2, then the read
    ops = [("write", "1", 0, 10), ("write", "2", 1, 3), ("read", "2", 2, 4), ("read", "2", 5, 6)]
    assert check_register(ops) is True


def test_register_not_linearizable_stale_read() -> None:
    ops = [("write", "1", 0, 1), ("write", "2", 2, 3), ("read", "1", 4, 5)]
    assert check_register(ops) is False


def test_register_not_linearizable_read_flipflop() -> None:
    # two sequential reads see 2 then 1, while both writes were done before either read
    ops = [("write", "1", 0, 5), ("write", "2", 0, 5), ("read", "2", 6, 7), ("read", "1", 8, 9)]
    assert check_register(ops) is False


def test_register_info_write_may_or_may_not_apply() -> None:
    applied = [("write", "1", 0, 1), ("write", "2", 2, math.inf), ("read", "2", 3, 4)]
    not_applied = [("write", "1", 0, 1), ("write", "2", 2, math.inf), ("read", "1", 3, 4)]
    assert check_register(applied) is True and check_register(not_applied) is True
    # ... but it cannot apply and then un-apply
    flip = not_applied + [("read", "2", 5, 6), ("read", "1", 7, 8)]
    assert check_register(flip) is False


def test_register_initial_absent_value() -> None:
    assert check_register([("read", None, 0, 1), ("write", "1", 2, 3)]) is True
    assert check_register([("write", "1", 0, 1), ("read", None, 2, 3)]) is False


def test_register_budget_reports_unknown() -> None:
    # many concurrent writes and a read of a value nobody wrote: exhaustive search
    ops = [("write", str(i), 0, 100) for i in range(18)] + [("read", "x", 101, 102)]
    assert check_register(ops, budget_s=0.05) is None


def test_check_linearizable_over_a_history() -> None:
    good = build([
        (1, "invoke", "write", "k", "a"), (1, "ok", "write", "k", ["a", [1, 1]]),
        (2, "invoke", "read", "k", None), (2, "ok", "read", "k", ["a", [1, 1]]),
        (3, "invoke", "write", "j", "b"), (3, "info", "write", "j", None),
        (2, "invoke", "read", "j", None), (2, "ok", "read", "j", None),
    ])
    result = check_linearizable(good)
    assert result["valid"] is True and result["keys"] == 2 and result["keys_valid"] == 2
    bad = good + build([(4, "invoke", "read", "k", None), (4, "ok", "read", "k", None)])
    bad = [op.__class__(i, *[getattr(op, f) for f in ("process", "type", "f", "key", "value")],
                        float(i)) for i, op in enumerate(bad)]
    result = check_linearizable(bad)
    assert result["valid"] is False and result["invalid_keys"] == ["k"]


def test_history_round_trip(tmp_path) -> None:
    history = History()
    history.append(1, "invoke", "add", "", "x", workload="set")
    history.append(1, "ok", "add", "", "x", workload="set")
    history.save(tmp_path / "h.jsonl")
    loaded = History.load(tmp_path / "h.jsonl")
    assert [o.type for o in loaded] == ["invoke", "ok"] and loaded.ops("set")[0].value == "x"


def test_unavailable_from_a_broken_connection_is_indeterminate() -> None:
    from jepsen.workloads import Workload
    from manhattan.errors import ConnectionLost, NodeUnreachable, ReplicasUnavailable, Timeout

    outcome_of = Workload.outcome_of
    assert outcome_of(None, ReplicasUnavailable("QUORUM needs 2 live replicas")) == "fail"
    assert outcome_of(None, NodeUnreachable("Connection refused")) == "fail"
    # by class only: a broken connection is a Timeout whatever its words say
    assert outcome_of(None, ConnectionLost("failed to connect to all addresses")) == "info"
    assert outcome_of(None, Timeout("Deadline Exceeded")) == "info"


def test_no_ids_is_told_by_its_wire_name_not_its_text() -> None:
    import grpc

    from jepsen.social import SocialWorkload
    from manhattan.client.errors import from_rpc_error
    from manhattan.errors import Unavailable, status_trailers
    from manhattan.services.snowflake import LeaseLost

    class Refused(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.UNAVAILABLE

        def details(self):
            return "any words"

        def trailing_metadata(self):
            return status_trailers(LeaseLost("x"))

    error = from_rpc_error(Refused())
    assert isinstance(error, Unavailable)
    assert SocialWorkload.outcome_of(None, error) == "fail"
    assert SocialWorkload.outcome_of(None, Unavailable("not issuing IDs")) == "info"
