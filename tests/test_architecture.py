"""The package's shape, checked: which layer may import which, no import cycles, small modules.

docs/architecture.md explains the layers; this test keeps the code and that page in step.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "flagkit"

# What each layer may import from flagkit besides itself ("flagkit" is the package root).
# Read it bottom-up: data flows upward.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "_status": set(),
    "_evaluation": {"errors"},
    "_net": {"_version"},
    "_sources": {"_evaluation", "_net", "_status", "errors"},
    "_remote": {"_evaluation", "_net", "_status"},
    "_events": {"_evaluation", "_net", "_remote", "_status", "_version"},
    "stores": {"_sources", "_status", "errors"},
    "_client": {
        "_evaluation",
        "_net",
        "_sources",
        "_remote",
        "_events",
        "_status",
        "errors",
        "stores",
    },
    "flagkit": {"_client", "_evaluation", "_status", "_version", "errors"},
    "api": {"_evaluation", "_net", "errors"},
    "server": {"_evaluation", "_net", "errors"},
    "openfeature": {"_client", "_evaluation", "_status", "flagkit"},
    "posthog": {"_client", "_events", "_sources", "stores"},
    "cli": {"_evaluation", "_net", "_version", "api", "errors", "flagkit", "server"},
    "demo": {"_client", "api", "cli", "server", "flagkit"},
    "__main__": {"cli"},
}
MAX_LINES = 600
MAX_TOP_LEVEL_MODULES = 15


def _module_name(path: Path) -> str:
    parts = ("flagkit", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every flagkit module ``path`` imports, anywhere in the file (TYPE_CHECKING included)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from pkg import sub`` imports the submodule (pkg's __init__ runs first, but
            # that is no dependency of ours); ``from pkg import name`` depends on pkg.
            subs = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n for n in subs if n in modules]
            if len(names) < len(subs):
                names.append(node.module)
        else:
            continue
        for name in names:
            if name in modules:
                yield name


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "flagkit"


def test_every_layer_is_listed() -> None:
    assert {_layer(module) for module in _modules()} <= set(ALLOWED)


def test_layers_import_only_what_lies_below_them() -> None:
    modules = _modules()
    wrong = sorted(
        f"{module} imports {imported}"
        for module, path in modules.items()
        for imported in _imports(path, modules)
        if _layer(imported) != _layer(module)
        and _layer(imported) not in ALLOWED.get(_layer(module), set())
    )
    assert wrong == []


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {
        module: {name for name in _imports(path, modules) if name != module}
        for module, path in modules.items()
    }
    # A package's __init__ is imported with any of its submodules; only real edges count.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize("module", sorted(_modules()))
def test_module_is_small(module: str) -> None:
    lines = _modules()[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines"


def test_few_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
