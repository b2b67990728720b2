"""Every import between the project's own modules, read from the source: the graph the architecture tests
judge (cycles, who may import what).

Every import statement counts wherever it is written: at module level, inside a function (a deferred
import is still a dependency, and holds a runtime cycle apart only until someone moves it), under
``if TYPE_CHECKING:`` (a cycle of types is a cycle of design), inside ``try``; so does
``importlib.import_module("literal.name")``. ``from package import name`` is an edge to the module that
defines ``name``: ``package.name`` when that is a submodule, else the module a package re-exports it from
(its ``TYPE_CHECKING`` block, ``artimuse_core.exports``; or a plain import in its ``__init__``), else the
package itself. An edge from a module to a package it lives in, for a name that package defines itself, is
no cycle: Python initialises a package before its submodules.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One import statement's reach: ``module`` as written (resolved when relative), ``names`` taken from
    it (empty for ``import module``), and the line."""

    module: str
    names: tuple[str, ...]
    line: int


class ImportGraph:
    """The modules of ``packages`` (import name -> folder) and every import between them."""

    def __init__(self, packages: dict[str, Path], skip_folders: tuple[str, ...] = ()):
        self.files: dict[str, Path] = {}
        for package, root in packages.items():
            for file in sorted(root.rglob("*.py")):
                if set(file.relative_to(root).parts) & set(skip_folders):
                    continue
                parts = file.relative_to(root).with_suffix("").parts
                self.files[".".join((package, *parts)).removesuffix(".__init__")] = file

    @functools.cache  # noqa: B019 - one graph per test session; the cache lives as long as it does
    def imports(self, name: str) -> tuple[Import, ...]:
        """Every import in module ``name``, relative ones resolved."""
        file = self.files[name]
        package = name if file.name == "__init__.py" else name.rsplit(".", 1)[0]
        found = []
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [Import(alias.name, (), node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = node.module or ""
                if node.level:
                    base = package.split(".")
                    target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                found.append(Import(target, tuple(alias.name for alias in node.names), node.lineno))
            elif _is_import_module_call(node):
                found.append(Import(node.args[0].value, (), node.lineno))  # type: ignore[attr-defined]
        return tuple(found)

    @functools.cache  # noqa: B019
    def reexports(self, package: str) -> dict[str, tuple[str, str]]:
        """``{name: (module, name there)}`` for what package ``package``'s ``__init__`` imports by name (at
        module level, or in an ``if`` block such as ``TYPE_CHECKING``'s: the lazy exports)."""
        file = self.files.get(package)
        if file is None or file.name != "__init__.py":
            return {}
        tree = ast.parse(file.read_text(encoding="utf-8"))
        statements = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
        for block in (n for n in tree.body if isinstance(n, ast.If)):
            statements += [n for n in block.body + block.orelse if isinstance(n, ast.ImportFrom)]
        lines = {imp.line: imp.module for imp in self.imports(package)}
        return {
            alias.asname or alias.name: (lines[statement.lineno], alias.name)
            for statement in statements
            for alias in statement.names
        }

    def is_module(self, name: str) -> bool:
        return name in self.files

    def defined_names(self, module: str) -> set[str]:
        """The names module ``module`` binds at its top level (definitions, assignments, imports)."""
        names = set()
        for node in ast.parse(self.files[module].read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        return names

    def defining_module(self, module: str, name: str | None) -> str | None:
        """Which of our modules ``from module import name`` (``import module`` when ``name`` is None)
        depends on; None when it is not one of ours."""
        if name is not None and self.is_module(f"{module}.{name}"):
            return f"{module}.{name}"
        source = self.reexports(module).get(name) if name is not None else None
        if source is not None and source[0] != module:
            return self.defining_module(*source)
        return module if self.is_module(module) else None

    def targets(self, name: str) -> list[tuple[str, Import]]:
        """(module depended on, the import) for every import of ``name`` that reaches one of our modules."""
        found = []
        for imp in self.imports(name):
            for taken in imp.names or (None,):
                target = self.defining_module(imp.module, None if taken == "*" else taken)
                if target is not None:
                    found.append((target, imp))
        return found

    def edges(self) -> dict[str, set[str]]:
        """Module -> the modules it depends on (no edge to itself or to a package it lives in)."""
        return {
            name: {t for t, _ in self.targets(name) if t != name and not name.startswith(t + ".")}
            for name in self.files
        }

    def cycles(self) -> list[tuple[str, ...]]:
        """Each group of modules that depend on each other, directly or through the others (a strongly
        connected component of more than one module), sorted."""
        graph = self.edges()
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        groups: list[tuple[str, ...]] = []

        def visit(node: str) -> None:  # Tarjan's algorithm
            index[node] = low[node] = len(index)
            stack.append(node)
            on_stack.add(node)
            for nxt in sorted(graph[node]):
                if nxt not in index:
                    visit(nxt)
                    low[node] = min(low[node], low[nxt])
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(tuple(sorted(group)))

        for node in sorted(graph):
            if node not in index:
                visit(node)
        return sorted(groups)

    def explain(self, group: tuple[str, ...]) -> str:
        """Every edge inside ``group``, with the line that makes it: what to cut to break the cycle."""
        inside = set(group)
        lines = []
        for name in group:
            for target, imp in self.targets(name):
                if target in inside and target != name and not name.startswith(target + "."):
                    lines.append(f"  {name} -> {target} ({self.files[name].name}:{imp.line})")
        return "\n".join(sorted(set(lines)))


def _is_import_module_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and not node.args[0].value.startswith(".")
    )
