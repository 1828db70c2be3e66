"""The import contract: no module of `tenet` imports itself back, function-level imports included.

Every `import` and `from … import` anywhere in a module (a function body counts; a block under
`if TYPE_CHECKING:` does not, since it never runs) is an edge from that module to the `tenet`
module it names. The graph must have no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

PACKAGES = {"tenet": REPO / "policies", "tenet.compiler": REPO / "compiler", "tenet.runtime": REPO / "runtime"}


def modules() -> dict[str, Path]:
    """`{module name: file}` for every Python file of the package."""
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The `tenet` modules a file imports, wherever in it, except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(node) for block in ast.walk(tree)
                   if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                   for statement in block.body for node in ast.walk(statement)}
    names: list[str] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    targets = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != "tenet":  # the package root's lazy API is no layer
            targets.add(name)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back() -> None:
    known = modules()
    graph = {name: imports_of(path, known) - {name} for name, path in known.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# Layers, bottom up: text edits, then rule kinds and labeling, then synthesis. A module of a
# lower layer never imports one of a higher layer (`tenet.X` covers its submodules).
NEVER_IMPORTS = {
    "tenet.runtime.textedit": ("tenet.runtime.predicates", "tenet.runtime.label", "tenet.runtime.synthesize",
                               "tenet.runtime.cycle"),
    "tenet.runtime.predicates": ("tenet.runtime.synthesize", "tenet.runtime.cycle"),
    "tenet.runtime.label": ("tenet.runtime.synthesize", "tenet.runtime.cycle"),
}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_lower_layers_never_import_higher_ones() -> None:
    known = modules()
    broken = sorted(f"{name} imports {target}"
                    for name, path in known.items()
                    for layer, above in NEVER_IMPORTS.items() if _within(name, layer)
                    for target in imports_of(path, known) if any(_within(target, high) for high in above))
    assert broken == []
