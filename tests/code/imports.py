"""The import graph of the packages, read from their source, and the layer rules it must keep.

`import_graph` lists every first-party import of every module (at module top or inside a
function alike: a late import is still an arrow); `layer_violations` names imports that run up
the layers and `import_cycles` the modules that import each other, directly or round a loop.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("features", "models", "serving", "training")

LAYERS: tuple[str, ...] = ("training", "serving", "models", "features")
"""Top-level packages, highest first: a package may import those below it, never above."""

SERVING_LAYERS: tuple[str, ...] = ("serving.web", "serving.api", "serving", "serving.store")
"""Inside `serving`, highest first; "serving" stands for the modules between api and store."""


@dataclass(frozen=True)
class Import:
    """One import statement of a first-party module.

    Attributes:
        module: The importing module (dotted).
        target: The imported module (dotted; `from a import b` names `a.b` when that is a module).
        line: Its line in the importing file.
        top: Whether it stands at module level (not inside a function or class body).
    """

    module: str
    target: str
    line: int
    top: bool


def module_name(root: Path, path: Path) -> str:
    """The dotted name of a source file under `root` (`a/b/__init__.py` is `a.b`)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _top_level_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes outside any function or class (ifs and trys included)."""
    found: set[int] = set()
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.add(id(node))
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(root: Path, packages: Sequence[str] = PACKAGES) -> list[Import]:
    """Every import between the first-party modules of `packages` under `root`."""
    files = {
        module_name(root, path): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }
    known = set(files)
    imports = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        top = _top_level_nodes(tree)
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, is_package, node)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
                ]
            else:
                continue
            for target in dict.fromkeys(targets):
                if target.split(".")[0] in packages:
                    imports.append(Import(module, target, node.lineno, id(node) in top))
    return imports


def layer_of(module: str, layers: Sequence[str]) -> int | None:
    """Index of the most specific layer holding `module` (0 is the highest), None if none."""
    best = None
    for pos, layer in enumerate(layers):
        if (module == layer or module.startswith(layer + ".")) and (
            best is None or len(layer) > len(layers[best])
        ):
            best = pos
    return best


def layer_violations(imports: Iterable[Import]) -> list[str]:
    """Imports that run up the layers, as `module:line imports target (why)`."""
    found = []
    for imp in imports:
        for layers in (LAYERS, SERVING_LAYERS):
            have, want = layer_of(imp.module, layers), layer_of(imp.target, layers)
            if have is not None and want is not None and want < have:
                found.append(
                    f"{imp.module}:{imp.line} imports {imp.target} "
                    f"({layers[have]} may not import {layers[want]})"
                )
                break
    return found


def import_cycles(imports: Iterable[Import]) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected, more than one module).

    Importing `a.b.c` from outside package `a.b` runs `a/b/__init__.py` first, so that counts
    as an import of `a.b` too.
    """
    edges: dict[str, set[str]] = {}
    for imp in imports:
        parts = imp.target.split(".")
        packages = [".".join(parts[:n]) for n in range(1, len(parts))]
        for target in [imp.target, *packages]:
            if imp.module != target and not imp.module.startswith(target + "."):
                edges.setdefault(imp.module, set()).add(target)
                edges.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups
