"""Value types are defined once (manhattan/types.py) and the node and the SDK share them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import manhattan.client as sdk
import manhattan.types as types
from manhattan.node import snapshots
from manhattan.security import audit
from manhattan import storage

ROOT = Path(__file__).resolve().parents[2]
SHARED = ("Record", "Version", "ScanPage", "AuditEntry", "SnapshotInfo")


@pytest.mark.parametrize("name", SHARED)
def test_the_sdk_and_the_node_name_the_same_class(name: str) -> None:
    node_side = {"AuditEntry": audit, "SnapshotInfo": snapshots}.get(name, storage)
    assert getattr(sdk, name) is getattr(types, name) is getattr(node_side, name)


def test_each_shared_value_type_has_exactly_one_class_statement() -> None:
    found: dict[str, list[str]] = {name: [] for name in SHARED}
    for folder in ("manhattan", "client", "cli"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ClassDef) and node.name in found:
                    found[node.name].append(str(path.relative_to(ROOT)))
    assert found == {name: ["manhattan/types.py"] for name in SHARED}
