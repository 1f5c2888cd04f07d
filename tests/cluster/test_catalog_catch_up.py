"""A dataset or token created through one node is usable at once through a node that missed
it: that node catches up before answering NotFound or Unauthenticated."""

from __future__ import annotations

import os
import signal
import time

import pytest

from manhattan.client import Client, Consistency, NotFound, Unauthenticated
from manhattan.node.local_cluster import LocalCluster
from tests.clusters import TEST_DEADLINE_S, only


def test_a_node_that_missed_the_catalog_push_pulls_it_on_first_use(tmp_path) -> None:
    # Heartbeats (which also carry catalog versions) every 60 s: only the pull can help.
    local = LocalCluster(tmp_path, nodes=3, base_port=None,
                         extra_config={"cluster": {"ping_interval_s": 60.0},
                                       "repair": {"enabled": False}}).start()
    try:
        late = local.node(3)
        os.kill(late.pid, signal.SIGSTOP)  # node 3 misses the push (it times out)
        try:
            with Client([local.node(1).address], token=local.admin_token,
                        timeout=TEST_DEADLINE_S) as admin:
                admin.admin.create_tenant("late-tenant")
                admin.admin.create_dataset("late-ds", tenant="late-tenant",
                                           replication_factor=3)
        finally:
            os.kill(late.pid, signal.SIGCONT)
        time.sleep(0.5)  # node 3 serves again; no heartbeat for another minute
        with only(late.address, local.admin_token) as client:
            with_node_3 = client.dataset("late-ds")
            with_node_3.put("k", "l", "v", consistency=Consistency.ONE)
            assert with_node_3.get("k", "l", consistency=Consistency.ONE).value == b"v"
            with pytest.raises(NotFound):  # still a clear NotFound for what nobody created
                client.dataset("never-created").get("k", "l", consistency=Consistency.ONE)
    finally:
        local.stop()


def test_a_token_issued_while_a_node_was_paused_is_accepted_there_at_once(tmp_path) -> None:
    local = LocalCluster(tmp_path, nodes=3, base_port=None,
                         extra_config={"repair": {"enabled": False}}).start()
    try:
        late = local.node(3)
        # Node 3 may be the metadata leader: the first change then waits out an election
        # (a loaded machine may stretch it past the SDK's default deadline).
        with Client([local.node(1).address], token=local.admin_token,
                    timeout=TEST_DEADLINE_S) as admin:
            admin.admin.create_tenant("early")
            admin.admin.create_dataset("ds", tenant="early", replication_factor=3)
            os.kill(late.pid, signal.SIGSTOP)  # node 3 has not applied the next tokens
            try:
                tokens = [admin.admin.create_tenant(f"late-{i}") for i in range(3)]
                for i in range(3):
                    admin.admin.create_dataset(f"ds-{i}", tenant=f"late-{i}",
                                               replication_factor=3)
            finally:
                os.kill(late.pid, signal.SIGCONT)
        for i, token in enumerate(tokens):  # at once, through the node that was paused
            with only(late.address, token) as client:
                client.dataset(f"ds-{i}").put("k", "l", "v", consistency=Consistency.ONE)
        with only(late.address, "mh_not_a_token") as client:  # still refused, clearly
            with pytest.raises(Unauthenticated):
                client.dataset("ds").get("k", "l", consistency=Consistency.ONE)
    finally:
        local.stop()
