"""The shape of the code (issue #19): imports point one way, functions stay short, one concept lives in one place.

Imports are read with :mod:`ast` (module level and inside functions alike), so a lazy import cannot hide a cycle.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "codesign"
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
TREES = {m: ast.parse(p.read_text(), str(p)) for m, p in MODULES.items()}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    pkg = module.split(".")
    if not MODULES[module].name == "__init__.py":
        pkg = pkg[:-1]
    pkg = pkg[: len(pkg) - node.level + 1]
    return ".".join(pkg + ([node.module] if node.module else []))


def _imports(module: str) -> set[str]:
    """The codesign modules ``module`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    found = set()
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name.startswith("codesign") and name != module:
                found.add(name)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_the_import_graph_is_read():
    """The checks below see real edges (a parser that found nothing would pass them all)."""
    assert "codesign.level" in GRAPH["codesign.verify"]
    assert "codesign.ir.qnet" in GRAPH["codesign.sim.forward"]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_module_import_cycles():
    assert _cycles(GRAPH) == []


def test_no_package_import_cycles():
    """Packages (``codesign.rtl``, ``codesign.campaign``, top-level modules) form a layering: no two depend on each
    other, whichever modules the edges come from."""
    packages: dict[str, set[str]] = {}
    for m, deps in GRAPH.items():
        pm = _package(m)
        packages.setdefault(pm, set()).update(_package(d) for d in deps if _package(d) != pm)
    packages.pop("codesign", None)  # the package root re-exports nothing and imports nothing
    assert _cycles(packages) == []


def test_lower_layers_never_import_the_flow_or_the_commands():
    """The IR, simulator, levels and campaign machinery are used by the flow and the CLI, never the other way."""
    upper = ("codesign.cli", "codesign.flow", "codesign.dse", "codesign.prepare")
    lower = [m for m in MODULES if m.count(".") and m.split(".")[1] in ("ir", "sim", "rtl", "hls", "campaign", "rank", "protect",
                                                           "metrics", "data", "mitigate", "models")]
    assert lower
    bad = {m: sorted(d for d in GRAPH[m] if d.startswith(upper)) for m in lower}
    assert {m: d for m, d in bad.items() if d} == {}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_functions_are_short(module):
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(TREES[module])
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 >
            MAX_FUNCTION_LINES]
    assert long == []


def _mentions(pattern: str) -> list[str]:
    return sorted(m for m, p in MODULES.items() if re.search(pattern, p.read_text()))


def test_one_place_for_each_file_name_and_schema():
    """The RTL summary file is named by the module that reads and writes it; the design-points schema and the
    output layout each live in one module."""
    assert _mentions(r"rtl\.json") == ["codesign.rtl.build"]
    assert _mentions(r"design_points\.csv\"") == ["codesign.points"]
    assert _mentions(r"\"\.work\"") == ["codesign.workspace"]
    assert _mentions(r"\.tmp-") == ["codesign.workspace"]
