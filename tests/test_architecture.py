"""The import graph keeps the shape ARCHITECTURE.md documents.

Every import is read with ``ast`` (module level, inside functions, under TYPE_CHECKING:
all of them), and two rules are checked:
- a package imports only packages of its own layer or below, in the order the
  ``Layers (bottom to top):`` line of ARCHITECTURE.md gives; the URL and server entry
  points of ``mrrx`` (the composition root) may import any layer, and nothing imports them;
- no two modules import each other, directly or through others.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The modules that wire the layers together: Django's URLconfs and the server entry points.
COMPOSITION_ROOT = frozenset({"mrrx.urls", "mrrx.api_urls", "mrrx.wsgi", "mrrx.asgi"})
# Stands beside the product: it imports none of it, and only tests and benchmarks use it.
STANDALONE = ("stripe_emulator",)


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported} (line {self.line})"


def documented_layers(architecture: str) -> list[str]:
    match = re.search(r"^Layers \(bottom to top\):\s*(.+)$", architecture, re.MULTILINE)
    assert match, "ARCHITECTURE.md must have a 'Layers (bottom to top): a -> b -> ...' line"
    return [name.strip(" `") for name in re.split(r"->|→", match.group(1))]


def modules_under(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if "migrations" in parts:
                continue
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    """What ``module`` imports, as module names. ``from package import name`` is an import
    of ``package.name`` when that is a module, else of ``package``."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.append(
                    Import(module, candidate if candidate in known else source, node.lineno)
                )
    return found


def import_graph(root: Path, packages: Iterable[str]) -> tuple[dict[str, Path], list[Import]]:
    known = modules_under(root, packages)
    edges = [edge for module, path in known.items() for edge in imports_of(module, path, known)]
    return known, edges


def layer_violations(edges: Iterable[Import], layers: list[str]) -> list[Import]:
    rank = {package: index for index, package in enumerate(layers)}
    wrong = []
    for edge in edges:
        source, target = edge.importer.split(".")[0], edge.imported.split(".")[0]
        if edge.imported in COMPOSITION_ROOT and edge.importer not in COMPOSITION_ROOT:
            wrong.append(edge)
        elif edge.importer in COMPOSITION_ROOT or source == target:
            continue
        elif source in STANDALONE or target in STANDALONE:
            if source in rank or target in rank:
                wrong.append(edge)
        elif source in rank and target in rank and rank[target] > rank[source]:
            wrong.append(edge)
    return wrong


def import_cycles(known: dict[str, Path], edges: Iterable[Import]) -> list[list[str]]:
    """Groups of modules that reach each other through imports (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {module: set() for module in known}
    for edge in edges:
        if edge.imported in known and edge.imported != edge.importer:
            graph[edge.importer].add(edge.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


LAYERS = documented_layers((ROOT / "ARCHITECTURE.md").read_text())


def test_the_documented_layers_name_every_product_package():
    packages = {p.parent.name for p in ROOT.glob("*/apps.py")} | {"mrrx"}
    assert set(LAYERS) == packages


def test_no_package_imports_a_layer_above_it():
    _, edges = import_graph(ROOT, [*LAYERS, *STANDALONE])
    assert [str(edge) for edge in layer_violations(edges, LAYERS)] == []


def test_no_modules_import_each_other():
    known, edges = import_graph(ROOT, [*LAYERS, *STANDALONE])
    assert import_cycles(known, edges) == []


def test_only_the_emulator_package_imports_the_module_that_assembles_it():
    # Resource modules sit below ``emulator.py``; reaching up into it would let them
    # touch the whole emulator (and brings back the cycles).
    _, edges = import_graph(ROOT, STANDALONE)
    importers = {edge.importer for edge in edges if edge.imported == "stripe_emulator.emulator"}
    assert importers == {"stripe_emulator"}


# The checks themselves, on small trees with the faults they exist to catch.
def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


@pytest.fixture
def layered_tree(tmp_path):
    write_tree(
        tmp_path,
        {
            "mrrx/__init__.py": "",
            "mrrx/urls.py": "from dashboard import views\n",
            "tenants/__init__.py": "",
            "tenants/models.py": "from mrrx import ids\n",
            "dashboard/__init__.py": "",
            "dashboard/views.py": "from tenants.models import Tenant\n",
        },
    )
    return tmp_path


def violations_in(root: Path) -> list[str]:
    _, edges = import_graph(root, ["mrrx", "tenants", "dashboard"])
    return [str(edge) for edge in layer_violations(edges, ["mrrx", "tenants", "dashboard"])]


def test_a_tree_that_keeps_its_layers_passes(layered_tree):
    assert violations_in(layered_tree) == []


def test_an_upward_import_is_reported_even_inside_a_function(layered_tree):
    write_tree(
        layered_tree,
        {
            "tenants/admin.py": """\
                def page():
                    from dashboard.views import render
                    return render
            """
        },
    )
    assert violations_in(layered_tree) == ["tenants.admin imports dashboard.views (line 2)"]


def test_importing_the_composition_root_is_reported(layered_tree):
    write_tree(layered_tree, {"dashboard/links.py": "from mrrx.urls import urlpatterns\n"})
    assert violations_in(layered_tree) == ["dashboard.links imports mrrx.urls (line 1)"]


def test_a_cycle_through_a_lazy_relative_import_is_reported(tmp_path):
    write_tree(
        tmp_path,
        {
            "tenants/__init__.py": "",
            "tenants/services.py": "def go():\n    from .tasks import run\n",
            "tenants/tasks.py": "from . import services\n",
            "tenants/models.py": "",
        },
    )
    known, edges = import_graph(tmp_path, ["tenants"])
    assert import_cycles(known, edges) == [["tenants.services", "tenants.tasks"]]


def test_the_real_tree_with_an_upward_import_added_fails(tmp_path):
    # The check on this repository's own layers, with one deliberate wrong arrow.
    _, edges = import_graph(ROOT, LAYERS)
    upward = Import("tenants.admin", "dashboard.views", 1)
    assert layer_violations([*edges, upward], LAYERS) == [upward]
