"""``manhattan counter add|get`` and ``dataset create --kind counter`` against a real node."""

from __future__ import annotations

import json
import uuid

from tests.cli.test_cli import run  # noqa: F401  (the fixture)


def test_counter_add_and_get_round_trip_with_a_retried_op_id(run):  # noqa: F811
    tenant, ds = f"cli-ct-{uuid.uuid4().hex[:8]}", f"cli-cds-{uuid.uuid4().hex[:8]}"
    token = json.loads(run("tenant", "create", tenant, "-o", "json").output)[0]["token"]
    created = run("dataset", "create", ds, "--tenant", tenant, "--kind", "counter", "-o", "json")
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)[0]["kind"] == "counter"
    added = run("counter", "add", ds, "user1", "followers", "5", "-o", "json", token=token)
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)[0]["value"] == 5
    assert run("counter", "add", ds, "user1", "followers", "--op-id", "once", "--", "-2",
               token=token).exit_code == 0
    again = run("counter", "add", ds, "user1", "followers", "--op-id", "once", "-o", "json",
                "--", "-2", token=token)
    assert json.loads(again.output)[0]["counted"] is False
    got = run("counter", "get", ds, "user1", "followers", token=token)
    assert got.exit_code == 0 and got.output.strip() == "3"
    refused = run("kv", "put", ds, "user1", "followers", "9", token=token)
    assert refused.exit_code != 0 and "counter dataset" in refused.output


def test_an_unknown_kind_is_refused_by_the_cli(run):  # noqa: F811
    result = run("dataset", "create", "never", "--tenant", "nobody", "--kind", "gauge")
    assert result.exit_code == 2 and "gauge" in result.output
