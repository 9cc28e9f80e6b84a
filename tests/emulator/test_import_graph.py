"""The emulator's modules import each other in one direction only.

Resource modules sit below `emulator.py`, which assembles them; only the package
`__init__` imports `emulator.py`. A cycle would make import order matter and let a lower
module reach into the whole emulator. Every `import` counts, including ones inside
functions or under `TYPE_CHECKING`.

Also runnable on its own: `python tests/emulator/test_import_graph.py` prints the graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "stripe_emulator"
PACKAGE = PACKAGE_DIR.name

Graph = dict[str, set[str]]


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _closest_module(name: str, modules: set[str]) -> str | None:
    """`import pkg.a.b` binds names from the deepest module of that path we know."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> Graph:
    """Arrows from each module of the package to the package modules it imports."""
    files = {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}
    modules = set(files)
    graph: Graph = {name: set() for name in files}
    for name, path in files.items():
        # Relative imports resolve against the package holding the module.
        base = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = base.split(".")
                    anchor = ".".join(parts[: len(parts) - node.level + 1])
                    source = f"{anchor}.{node.module}" if node.module else anchor
                else:
                    source = node.module or ""
                # `from pkg import name` depends on the module `pkg.name` when there is
                # one, and on `pkg` itself otherwise.
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                    for alias in node.names
                ]
            for target in targets:
                resolved = _closest_module(target, modules)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_only_the_package_imports_the_assembled_emulator() -> None:
    graph = import_graph()
    importers = sorted(name for name, targets in graph.items() if f"{PACKAGE}.emulator" in targets)
    assert importers == [PACKAGE]


def test_modules_below_the_emulator_do_not_import_the_package() -> None:
    graph = import_graph()
    below: set[str] = set()
    pending = [f"{PACKAGE}.emulator"]
    while pending:
        for target in graph[pending.pop()]:
            if target not in below:
                below.add(target)
                pending.append(target)
    assert sorted(name for name in below if PACKAGE in graph[name]) == []


if __name__ == "__main__":
    graph = import_graph()
    for name in sorted(graph):
        print(f"{name} -> {', '.join(sorted(graph[name])) or '-'}")
    print("cycles:", cycles(graph) or "none")
