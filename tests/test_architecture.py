"""The package's shape: no import cycles, core free of transport libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"core": "bess_duos.core", "webhook": "bess_duos.webhook"}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in ROOTS.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every bess_duos module `path` imports, at any level of the file (lazy ones too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out |= {n for n in names if n in modules}
    return out


def test_the_import_graph_has_no_cycle() -> None:
    modules = _modules()
    names = sorted(modules)
    index = {name: i for i, name in enumerate(names)}
    edges = [
        (index[name], index[target])
        for name, path in modules.items()
        for target in _imports(path, modules)
        # a package's own __init__ importing its submodules is not a cycle of logic
        if not target.startswith(name + ".") and target != name
    ]
    rows, cols = zip(*edges, strict=True)
    graph = csr_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(names), len(names)))
    _, labels = connected_components(graph, directed=True, connection="strong")
    groups: dict[int, list[str]] = {}
    for name, label in zip(names, labels, strict=True):
        groups.setdefault(int(label), []).append(name)
    assert [g for g in groups.values() if len(g) > 1] == []


@pytest.mark.parametrize("banned", ["flask", "gspread", "werkzeug", "google"])
def test_core_imports_no_transport_library(banned: str) -> None:
    offenders = []
    for path in (REPO / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == banned or n.startswith(banned + ".") for n in names):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
