"""The packages import each other downwards only, and never in a circle.

Every import counts: module level, inside functions, under ``TYPE_CHECKING``. The
layer order is docs/architecture.md's diagram; a change that needs an upward import
needs a new seam (a Protocol, a callable passed in) instead, or a deliberate edit
of ``LAYERS`` and of the diagram.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Source directory -> the package it installs as (pyproject's package-dir mapping).
SOURCES = {"manhattan": "manhattan", "client": "manhattan.client", "cli": "manhattan.cli",
           "proto": "manhattan.proto", "bench": "manhattan.bench"}
# Top to bottom. A package may import packages of its own row or below; packages of
# one row must still not import each other both ways (the cycle check).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("bench",),
    ("services",),
    ("client",),
    ("node",),
    ("rpc",),
    ("replication",),
    ("cluster",),
    ("qos",),
    ("security",),
    ("metadata", "tenancy"),
    ("storage",),
    ("hlc", "types", "proto"),
    ("errors",),
)
RANK = {package: rank for rank, row in enumerate(LAYERS) for package in row}


@dataclass(frozen=True)
class Import:
    """One import statement between two packages of ``manhattan``."""

    path: str
    line: int
    source: str   # importing package
    target: str   # imported package
    module: str   # imported module, as written (resolved if relative)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def module_name(path: Path, base: Path, package: str) -> str:
    """The dotted name ``path`` installs as."""
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def package_of(module: str) -> str | None:
    """``manhattan.cluster.ring`` -> ``cluster``; ``manhattan`` itself -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "manhattan" and len(parts) > 1 else None


def imported_modules(tree: ast.AST, module: str, is_package: bool
                     ) -> Iterator[tuple[int, str]]:
    """Every (line, absolute module) imported anywhere in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "manhattan":  # from manhattan import cluster: the names are packages
                for alias in node.names:
                    yield node.lineno, f"manhattan.{alias.name}"
            else:
                yield node.lineno, target


def package_imports(root: Path, sources: dict[str, str]) -> list[Import]:
    """Every import from one package of ``manhattan`` into another, under ``root``."""
    files = {module_name(path, root / directory, package): path
             for directory, package in sources.items()
             for path in sorted((root / directory).rglob("*.py"))}
    found = []
    for module, path in files.items():
        source = package_of(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target_module in imported_modules(tree, module, path.name == "__init__.py"):
            while "." in target_module and target_module not in files:
                target_module = target_module.rpartition(".")[0]  # a name, not a module
            target = package_of(target_module)
            if source and target and target != source:
                found.append(Import(str(path.relative_to(root)), line, source, target,
                                    target_module))
    return found


def upward(imports: list[Import]) -> list[str]:
    """A message for every import of an unplaced package or of a higher layer."""
    problems = []
    for imp in imports:
        for package in (imp.source, imp.target):
            if package not in RANK:
                problems.append(f"{imp}: package {package!r} has no place in LAYERS")
        if imp.source in RANK and imp.target in RANK and RANK[imp.target] < RANK[imp.source]:
            problems.append(f"{imp}: {imp.source} may not import {imp.target}, "
                            f"a layer above it")
    return sorted(set(problems))


def cycles(imports: list[Import]) -> list[str]:
    """One message per package cycle, naming an import for each of its edges."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports:
        edges.setdefault(imp.source, {}).setdefault(imp.target, imp)
    found: set[tuple[str, ...]] = set()

    def walk(package: str, path: list[str]) -> None:
        for target in sorted(edges.get(package, {})):
            if target in path:
                cycle = path[path.index(target):]
                turn = cycle.index(min(cycle))  # one message per cycle, whatever its start
                found.add(tuple(cycle[turn:] + cycle[:turn]))
            elif len(path) < len(RANK) + 2:
                walk(target, [*path, target])

    for start in sorted(edges):
        walk(start, [start])
    messages = []
    for cycle in sorted(found):
        hops = [edges[a][b] for a, b in zip(cycle, (*cycle[1:], cycle[0]))]
        messages.append(" -> ".join((*cycle, cycle[0])) + ": "
                        + "; ".join(str(hop) for hop in hops))
    return messages


def test_every_import_points_down_the_layers() -> None:
    imports = package_imports(ROOT, SOURCES)
    assert len(imports) > 50, "the walk found too few imports to mean anything"
    assert upward(imports) == []


def test_no_import_cycle_between_packages() -> None:
    assert cycles(package_imports(ROOT, SOURCES)) == []


def test_every_package_has_a_layer() -> None:
    packages = {p.name for d in SOURCES for p in (ROOT / d).iterdir()
                if d == "manhattan" and (p / "__init__.py").exists()}
    assert packages - set(RANK) == set()


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    """A two-package tree with an upward import hidden under TYPE_CHECKING and a
    function-local import that closes a cycle."""
    for package, body in {
        "cluster": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                   "    from manhattan.node.server import StorageNode\n",
        "node": "def f():\n    from ..cluster import ring\n",
    }.items():
        (tmp_path / "manhattan" / package).mkdir(parents=True)
        (tmp_path / "manhattan" / package / "__init__.py").write_text(body)
    (tmp_path / "manhattan" / "__init__.py").write_text("")
    return tmp_path


def test_the_check_catches_hidden_upward_imports_and_cycles(tiny_tree: Path) -> None:
    imports = package_imports(tiny_tree, {"manhattan": "manhattan"})
    assert upward(imports) == [
        "manhattan/cluster/__init__.py:3 imports manhattan.node: "
        "cluster may not import node, a layer above it"]
    assert cycles(imports) == [
        "cluster -> node -> cluster: manhattan/cluster/__init__.py:3 imports "
        "manhattan.node; manhattan/node/__init__.py:2 imports manhattan.cluster"]


def test_no_module_over_500_lines() -> None:
    """Small modules with one job (generated protobuf code aside; ``client/`` and ``cli/``
    are held to it by their own owners)."""
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "manhattan").rglob("*.py")
            if not p.name.endswith(("_pb2.py", "_pb2_grpc.py"))
            and (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert long == {}
