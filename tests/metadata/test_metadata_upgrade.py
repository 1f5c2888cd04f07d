"""A data dir of the gossip version: its catalog is imported into the log on first start."""

from __future__ import annotations

from manhattan.client import Client
from manhattan.node.process import NodeProcess

from tests.metadata.test_metadata_log import eventually


def test_a_gossip_era_data_dir_keeps_its_tenants_tokens_datasets_and_rows(tmp_path):
    old = NodeProcess(tmp_path / "data", env={"MANHATTAN_METADATA_ENABLED": "false"})
    with old:
        admin_token = old.admin_token()
        with Client([old.address], token=admin_token) as admin:
            token = admin.admin.create_tenant("legacy")
            admin.admin.create_dataset("legacy-events", tenant="legacy", replication_factor=1)
            admin.admin.set_limits(tenant="legacy", ops_per_second=500, burst_seconds=1)
        with Client([old.address], token=token) as tenant:
            tenant.dataset("legacy-events").put("p", "l", "kept")
    new = NodeProcess(tmp_path / "data")
    with new:
        with Client([new.address], token=admin_token) as admin:
            assert eventually(lambda: "legacy" in {t.name for t in admin.admin.list_tenants()})
            assert admin.admin.describe_tenant("legacy").limits.ops_per_second == 500
            info = admin.admin.node_info()
            assert info.metadata is not None and info.metadata.applied_commands >= 1
        with Client([new.address], token=token) as tenant:  # its old token, its old rows
            assert tenant.dataset("legacy-events").get("p", "l").value == b"kept"
    again = NodeProcess(tmp_path / "data")  # imported once: a restart changes nothing
    with again:
        with Client([again.address], token=token) as tenant:
            assert tenant.dataset("legacy-events").get("p", "l").value == b"kept"
