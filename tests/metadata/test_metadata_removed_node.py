"""A voter removed from the cluster while it was down learns so from its former peers
when it comes back, follows the metadata log as a learner, applies its removal and
drops the data it no longer owns (a real 4-node cluster)."""

from __future__ import annotations

from pathlib import Path

from rocksdict import AccessType, Options, Rdict

from manhattan.client import Client, Consistency
from manhattan.client.ops import ClusterOps

from tests.clusters import eventually, new_dataset, only, start_cluster, wait_until_down

MARKER = b"kept-by-the-removed-node"


def _holds_marker(db: Path) -> bool:
    """Whether any record of any column family of a stopped node's database holds
    MARKER (the stored form wraps the value)."""
    families = [name for name in Rdict.list_cf(str(db)) if name != "default"]
    store = Rdict(str(db), Options(raw_mode=True),
                  column_families={name: Options(raw_mode=True) for name in families},
                  access_type=AccessType.read_only())
    try:
        return any(MARKER in v for name in families
                   for _, v in store.get_column_family(name).items())
    finally:
        store.close()


def _role(node, token: str) -> str:
    with only(node.address, token) as client:
        md = client.admin.node_info(timeout=2).metadata
    return md.role if md is not None else "off"


def test_a_voter_removed_while_down_follows_the_log_and_cleans_up(tmp_path):
    local = start_cluster(tmp_path / "c", nodes=4)
    try:
        token, dataset = new_dataset(local)
        with Client(local.endpoints, token=token) as client:
            for i in range(20):
                client.dataset(dataset).put(f"p{i}", "l", MARKER, consistency=Consistency.ALL)
        gone = local.node(3)
        gone.stop()
        wait_until_down(local, 3, observer=1)
        with Client([local.node(1).address], token=local.admin_token) as admin:
            last = list(ClusterOps(admin).remove(3, via=local.node(1).address))[-1]
        assert last.done, last.message
        assert _holds_marker(gone.data_dir / "db")  # it slept through its removal

        gone.start()
        # its former peers no longer talk Raft with it: it asks them, and follows as a
        # learner (a few seconds: it checks every 5 s while it has no majority)
        assert eventually(lambda: _role(gone, local.admin_token) == "learner", 60), \
            gone.log_tail()
        with only(gone.address, local.admin_token) as client:
            assert eventually(lambda: 3 not in {m.id for m in client.admin.topology().members},
                              30), gone.log_tail()
        assert eventually(lambda: "cleaned up after missed topology change" in gone.log_tail(200),
                          30), gone.log_tail()
        gone.stop()
        assert not _holds_marker(gone.data_dir / "db")
        # the cluster serves every record without it
        with Client([local.node(1).address], token=token) as client:
            for i in range(20):
                assert client.dataset(dataset).get(f"p{i}", "l",
                                                   consistency=Consistency.ALL).value == MARKER
    finally:
        local.stop()
