"""The CAS-register workload and its checker: the checker tells valid CAS histories from
invalid ones (hand-made), and the workload's history against a real 3-node cluster, with
one node paused for a while, is linearizable."""

from __future__ import annotations

import os
import signal
import time

from jepsen.cas_register import CasRegisterWorkload
from jepsen.checkers.cas import check_cas
from jepsen.history import INFO, INVOKE, OK, History, build
from jepsen.workloads import Env

from tests.clusters import new_dataset

W = "cas-register"


def test_a_valid_history_of_reads_swaps_and_failed_conditions() -> None:
    history = build([
        (1, INVOKE, "cas", "k", [None, "a"]), (1, OK, "cas", "k", ["ok", [1, 1]]),
        (2, INVOKE, "cas", "k", [None, "b"]), (2, OK, "cas", "k", ["failed", "a"]),
        (2, INVOKE, "cas", "k", ["a", "b"]), (2, OK, "cas", "k", ["ok", [2, 1]]),
        (1, INVOKE, "cas", "k", ["a", "c"]), (1, INFO, "cas", "k", None),  # unknown
        (3, INVOKE, "read", "k", None), (3, OK, "read", "k", ["b"]),
    ], workload=W)
    assert check_cas(history)["valid"]


def test_a_lost_swap_or_a_wrong_failure_is_invalid() -> None:
    stale_read = build([
        (1, INVOKE, "cas", "k", [None, "a"]), (1, OK, "cas", "k", ["ok", [1, 1]]),
        (2, INVOKE, "read", "k", None), (2, OK, "read", "k", [None]),
    ], workload=W)
    assert not check_cas(stale_read)["valid"]
    double_win = build([
        (1, INVOKE, "cas", "k", [None, "a"]), (2, INVOKE, "cas", "k", [None, "b"]),
        (1, OK, "cas", "k", ["ok", [1, 1]]), (2, OK, "cas", "k", ["ok", [1, 2]]),
    ], workload=W)
    assert not check_cas(double_win)["valid"]
    wrong_failure = build([
        (1, INVOKE, "cas", "k", [None, "a"]), (1, OK, "cas", "k", ["failed", None]),
    ], workload=W)
    assert not check_cas(wrong_failure)["valid"]


def test_the_workload_is_linearizable_on_a_real_cluster_with_a_pause(cluster) -> None:
    token, name = new_dataset(cluster)
    history = History()
    workload = CasRegisterWorkload(Env(history, cluster.endpoints, token, name, pinned=False,
                                       seed=7), first_process=1)
    workload.ops_per_key = 40
    workload.start()
    try:
        time.sleep(2)
        paused = cluster.node(2).pid
        os.kill(paused, signal.SIGSTOP)
        try:
            time.sleep(2)
        finally:
            os.kill(paused, signal.SIGCONT)
        time.sleep(2)
    finally:
        workload.stop()
        workload.close()
    result = check_cas(history.ops())
    assert result["valid"], result
    assert result["keys_unknown"] == 0 and result["ops"] > 20, result
    assert any(o.type == OK and o.f == "cas" and o.value[0] == "ok" for o in history.ops())
