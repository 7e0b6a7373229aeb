"""The floor plan: every module has a floor, imports only point down (or across), and never in a circle.

Imports are read from the source (every ``import``, including those inside functions, which still
run; not those under ``if TYPE_CHECKING:``, which never do), so the test needs no import side effects.
A new module must be given its floor here: that is the moment to decide where it belongs.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import networkx as nx
import pytest

import costmodel

PACKAGE = Path(costmodel.__file__).resolve().parent

# Low to high, as DESIGN.md draws the pipeline. A module may import from its own floor or below.
FLOORS: list[tuple[str, ...]] = [
    (
        "costmodel.errors",
        "costmodel.limits",
        "costmodel.readfile",
        "costmodel.intmath",
        "costmodel.resources",
        "costmodel.atomic_write",
        "costmodel.version",
    ),
    ("costmodel.expressions", "costmodel.yamlfile", "costmodel.arrays", "costmodel.ops.base"),
    ("costmodel.ops.*", "costmodel.ops"),
    ("costmodel.spec",),
    ("costmodel.graph",),
    ("costmodel.expansion", "costmodel.evaluation"),
    ("costmodel.macs_conventions", "costmodel.conventions", "costmodel.costs"),
    ("costmodel.model",),
    ("costmodel.forms",),
    ("costmodel.smooth", "costmodel.compiled"),
    ("costmodel.symbolic", "costmodel.references", "costmodel.report", "costmodel.compare"),
    ("costmodel.records", "costmodel.grid"),
    ("costmodel.budget", "costmodel.sensitivity", "costmodel.sweep", "costmodel.charts"),
    ("costmodel.expression_view",),
    ("costmodel.executor",),
    ("costmodel.verify",),
    ("costmodel.onnx_common", "costmodel.onnx_export", "costmodel.onnx_import"),
    ("costmodel.loading",),
    ("costmodel.pick", "costmodel.side_by_side", "costmodel.single_layer", "costmodel.rewrite"),
    ("costmodel.render", "costmodel.doc_tables", "costmodel.page", "costmodel.explain"),
    ("costmodel.cli.options",),
    ("costmodel.cli.*", "costmodel.cli"),
    ("costmodel", "costmodel.__main__"),
]


def _modules() -> dict[str, Path]:
    found = {"costmodel": PACKAGE / "__init__.py"}
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="costmodel."):
        path = PACKAGE.joinpath(*info.name.split(".")[1:])
        found[info.name] = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
    return found


MODULES = _modules()


def _floor(module: str) -> int:
    for index, names in enumerate(FLOORS):
        for name in names:
            if module == name or (name.endswith(".*") and module.startswith(name[:-1])):
                return index
    raise AssertionError(f"{module} has no floor in tests/test_layout.py: decide where it belongs")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> set[str]:
    """The costmodel modules ``module`` imports at run time (``from pkg import submodule`` names the
    submodule; importing a name from a package names the package)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    targets: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name.startswith("costmodel"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("costmodel"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                targets.add(full if full in MODULES else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    targets.discard(module)
    return targets


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for module in MODULES:
        graph.add_node(module)
        for target in _imports(module):
            graph.add_edge(module, target)
    return graph


def test_every_module_has_a_floor() -> None:
    for module in MODULES:
        _floor(module)


def test_the_module_graph_has_no_cycle() -> None:
    graph = _graph()
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles[:5])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    up = sorted(t for t in _imports(module) if t in MODULES and _floor(t) > _floor(module))
    assert not up, f"{module} (floor {_floor(module)}) imports from above: {up}"


def test_the_reader_sees_imports_inside_functions_but_not_type_checking_ones() -> None:
    # costmodel.loading imports the ONNX importer inside load_model; ops import graph only for types
    assert "costmodel.onnx_import" in _imports("costmodel.loading")
    assert "costmodel.graph" not in _imports("costmodel.ops.conv")
