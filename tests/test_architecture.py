"""The import graph of the package: no cycle between files, no import from a lower layer to a higher one.

Walks every ``src/pocusiq/**/*.py`` with :mod:`ast` (imports anywhere in a file count, also
inside functions and ``if TYPE_CHECKING:`` blocks: a deferred import is still a dependency).
Layers (TEAM.md, lowest first); a module may import its own area and lower layers only:

0 errors, atomic, journal, config, the package root (version, lazy facade)
1 imaging   2 metrics, models   3 simulate   4 data   5 acquire < pair   6 train
7 enhance   8 benchmark   9 view   10 cli, __main__, and every CLI subcommand module
(``<area>/command.py``, ``<area>/*_command.py``: argument parsing and wiring, registered in
``cli.COMMANDS``), which may call any area.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "pocusiq"

LAYERS: dict[str, float] = {
    # layer 0 in its own order: errors < atomic, config < journal
    "errors": 0, "atomic": 0.1, "config": 0.1, "journal": 0.2, "": 0,
    "imaging": 1,
    "metrics": 2, "models": 2,
    "simulate": 3,
    "data": 4,
    "acquire": 5, "pair": 5.5,
    "train": 6,
    "enhance": 7,
    "benchmark": 8,
    "view": 9,
    "cli": 10, "__main__": 10.5,
}

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The longest known module prefix of a dotted name (``pocusiq.a.b.func`` -> ``pocusiq.a.b``)."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return None


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    """module -> set of pocusiq modules it imports (files, not packages, where a file is named)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [f"{mod}.{alias.name}" for alias in node.names] + [mod]
                # `from pkg import sub` names the submodule when it is one; else the package itself
                named = [t for t in targets[:-1] if t in modules]
                targets = named + ([mod] if len(named) < len(node.names) else [])
            else:
                continue
            for target in targets:
                if not target.startswith("pocusiq"):
                    continue
                resolved = _resolve(target, modules)
                if resolved and resolved != name:
                    deps.add(resolved)
        graph[name] = deps
    return graph


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_command(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "command" or last.endswith("_command")


def _layer(module: str) -> float:
    if _is_command(module):  # CLI subcommands (<area>/command.py) are wiring of the CLI layer
        return LAYERS["cli"]
    area = _area(module)
    assert area in LAYERS, f"{module}: area {area!r} has no layer in tests/test_architecture.py (add it to TEAM.md's list)"
    return LAYERS[area]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one file (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_known_imports():
    graph = import_graph()
    assert "pocusiq.models.checkpoints" in graph["pocusiq.enhance.enhancer"]
    assert "pocusiq.models.inference" in graph["pocusiq.train.evaluation"]
    assert "pocusiq.errors" in graph["pocusiq.config"]
    assert "pocusiq.models.config" in graph["pocusiq.models.builder"]


def test_no_import_cycle_between_files():
    cycles = _cycles(import_graph())
    assert not cycles, "import cycles between files: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_import_from_a_lower_layer_to_a_higher_one():
    bad = []
    for module, deps in import_graph().items():
        for dep in deps:
            if _area(dep) != _area(module) and _layer(dep) >= _layer(module) and _area(dep) != "" and not _is_command(module):
                bad.append(f"{module} (layer {_layer(module):g}) imports {dep} (layer {_layer(dep):g})")
    assert not bad, "imports that go up (or sideways) the layers:\n" + "\n".join(sorted(bad))


@pytest.mark.parametrize("area", ["models", "metrics", "imaging", "errors"])
def test_ground_floors_import_no_higher_area(area):
    allowed = {a for a, layer in LAYERS.items() if layer < LAYERS[area]} | {area}
    bad = [f"{m} imports {d}" for m, deps in import_graph().items() if _area(m) == area
           for d in deps if _area(d) not in allowed]
    assert not bad, "\n".join(bad)


def test_package_root_imports_nothing_eagerly():
    # `pocusiq/__init__.py` is layer 0 only because it imports no pocusiq module at import time
    # (Enhancer and metrics are resolved lazily by name).
    assert import_graph()["pocusiq"] == set()

