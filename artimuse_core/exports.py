"""Lazy public names for a package (PEP 562), declared once: its ``if TYPE_CHECKING:`` imports.

A package's surface is written as ordinary imports under ``TYPE_CHECKING`` (``from .spec import EngineSpec
as EngineSpec``), which type checkers and readers see; at run time ``lazy_exports`` reads that block from
the package's own source and loads each name from its module on first use. So ``import artimuse_core`` and
``from artimuse_core import EngineSpec`` import neither torch nor anything the name does not need, and the
list of names cannot drift from the types (there is no second list). The same idea as scientific Python's
``lazy_loader.attach_stub``, without a stub file or a dependency in every host's environment (ComfyUI's).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def declared_exports(package: str, init_file: str | Path) -> dict[str, tuple[str, str]]:
    """``{public name: (module, name there)}`` from the ``if TYPE_CHECKING:`` imports of ``init_file``,
    the ``__init__.py`` of ``package`` (relative modules resolved against it). Only ``from X import Y``
    statements count; other statements in the block are types for the checker alone."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    found: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    module = importlib.util.resolve_name("." * statement.level + (statement.module or ""), package)
                    for alias in statement.names:
                        found[alias.asname or alias.name] = (module, alias.name)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def lazy_exports(package: str, init_file: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``: each declared name is imported from its module
    the first time it is asked for, then kept in the package's namespace.

    Raises (from ``__getattr__``):
        AttributeError: the package declares no such name (as for any module).
    """
    exports = declared_exports(package, init_file)

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[0]), where[1])
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__, sorted(exports)


__all__ = ["declared_exports", "lazy_exports"]
