"""Contracts of the layout, checked in CI: the core imports no front end; front ends import only the core's
public surface (``PUBLIC_CORE``); no import cycle of any kind among the project's modules; no module over
~400 lines; commands that do not run the model start without torch, transformers, SQLAlchemy's ORM (or
Alembic when no migration is due); every command and option has help; --json everywhere.

Imports are read from the source, every one of them (inside functions, under ``TYPE_CHECKING``, in ``try``,
``importlib.import_module("...")``): ``tests/import_graph.py``."""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest

from artimuse_core.exports import declared_exports
from tests.import_graph import ImportGraph

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {
    "artimuse_core": REPO / "artimuse_core",
    "artimuse_core.library.migrations": REPO / "migrations",  # mapped into the core (pyproject's package-dir)
    "artimuse_cli": REPO / "cli",
    "artimuse_watcher": REPO / "plugins" / "watcher",
    "artimuse_comfyui": REPO / "plugins" / "comfyui",
    "artimuse_web": REPO / "plugins" / "web",
    "artimuse_batch": REPO / "plugins" / "ray",
}
FRONT_ENDS = ("artimuse_cli", "artimuse_watcher", "artimuse_comfyui", "artimuse_web", "artimuse_batch")
#: The core's public surface: the only core modules a front end may import, and what each is for (the same
#: list, in words, opens ``artimuse_core/__init__.py``). Each one's names are the imports of its
#: ``TYPE_CHECKING`` block, loaded lazily (``artimuse_core/exports.py``); everything else in the core is the
#: core's own business. A front end that needs something more asks for it to be added here, with a reason.
PUBLIC_CORE = {
    "artimuse_core": "models and engines, settings, results, attributes and categories, image files, errors",
    "artimuse_core.library": "the library database: Library, the door (ingest), records, the gallery's pages, upkeep",
    "artimuse_core.xmp": "XMP sidecars for photo managers (the optional xmp extra, GPL exiv2)",
    "artimuse_core.finetune": "training an adapter on the library's ratings",
}
#: Optional extras' heavy packages and the only modules that may import them (anywhere in the module): the
#: batch plan and the module that joins or starts Ray (address, probe, watchdog); the rest of the plugin
#: (inputs, parts, lease, stages, importing) runs and is tested without Ray.
EXTRA_IMPORTERS = {"ray": {"artimuse_batch.pipeline", "artimuse_batch.cluster"}}
MAX_LINES = 400


@functools.cache
def graph() -> ImportGraph:
    """Our modules (``tools/`` folders hold scripts for users to run by hand, not imported) and their imports."""
    return ImportGraph(PACKAGES, skip_folders=("tools",))


def modules() -> dict[str, Path]:
    return graph().files


def test_the_core_imports_no_front_end():
    for name in modules():
        if name.startswith("artimuse_core"):
            bad = [i.module for i in graph().imports(name) if i.module.split(".")[0] in FRONT_ENDS + ("cli", "plugins")]
            assert not bad, f"{name} imports the front end {bad}"


def front_end_reach(
    found: ImportGraph, front_ends: tuple[str, ...], public: dict[str, str], core: str = "artimuse_core"
) -> list[str]:
    """Every import by a module of ``front_ends`` of a ``core`` module outside ``public``, of a name a public
    module does not declare, or of a private name: ``"module:line imports what"``."""
    bad = []
    for name, file in found.files.items():
        if name.split(".")[0] not in front_ends:
            continue
        for imp in found.imports(name):
            if imp.module.split(".")[0] != core:
                continue
            where = f"{name} ({file.name}:{imp.line})"
            for taken in imp.names or (None,):
                module = f"{imp.module}.{taken}" if found.is_module(f"{imp.module}.{taken}") else imp.module
                private = [part for part in [*module.split("."), taken or ""] if part.startswith("_")]
                if private and taken != "__version__":
                    bad.append(f"{where} imports the private {module} {taken or ''}".rstrip())
                elif module not in public:
                    bad.append(f"{where} imports {module}, which is not the core's public surface")
                elif taken is not None and module == imp.module and taken != "__version__":
                    source = found.files[module]
                    package = source.name == "__init__.py"
                    names = declared_exports(module, source) if package else found.defined_names(module)
                    if taken not in names or (not package and taken.startswith("_")):
                        bad.append(f"{where} imports {taken} from {module}, which does not declare it")
    return sorted(set(bad))


def test_front_ends_import_only_the_public_core():
    """The front ends reach the core through ``PUBLIC_CORE`` alone, each name one it declares."""
    bad = front_end_reach(graph(), FRONT_ENDS, PUBLIC_CORE)
    assert not bad, "\n".join(bad)


def test_the_public_surface_is_documented_and_each_name_is_real():
    """``artimuse_core``'s docstring names every public module; each declared name exists in the module it
    is declared from (read from the source: nothing is imported), and none shadows a submodule (after
    ``import artimuse_core.finetune``, ``artimuse_core.finetune`` is the module, whatever was exported)."""
    import artimuse_core

    for module in PUBLIC_CORE:
        assert f"``{module}``" in (artimuse_core.__doc__ or ""), f"{module} is public but not documented"
    for package in PUBLIC_CORE:
        if graph().files[package].name != "__init__.py":
            continue
        for name, (source, original) in declared_exports(package, graph().files[package]).items():
            assert not graph().is_module(f"{package}.{name}"), f"{package}.{name} is both a name and a module"
            assert original in graph().defined_names(source), f"{package}.{name}: {source} defines no {original}"


def test_command_modules_import_neither_the_cli_root_nor_each_other():
    """What two commands share (options, output, the context) lives in its own module: a command module
    that imports another is how a cycle between two of them starts."""
    for name in modules():
        if name.startswith("artimuse_cli.") and name not in ("artimuse_cli.main", "artimuse_cli.__main__"):
            reached = {t for t, _ in graph().targets(name)}
            assert "artimuse_cli.main" not in reached, name
            others = sorted(t for t in reached if t.endswith("_commands") and t != name)
            assert not others, f"{name} imports the command modules {others}"


def test_only_the_batch_pipeline_imports_ray():
    for name in modules():
        for extra, allowed in EXTRA_IMPORTERS.items():
            if name not in allowed:
                found = [i.module for i in graph().imports(name) if i.module.split(".")[0] == extra]
                assert not found, f"{name} imports {found}: only {sorted(allowed)} may (the {extra} extra)"


def test_no_import_cycles():
    """Our modules form no cycle of imports, counting every import (see ``tests/import_graph.py``)."""
    found = graph().cycles()
    assert not found, "import cycles:\n" + "\n".join(f"{' <-> '.join(g)}\n{graph().explain(g)}" for g in found)


PLANTED = {
    "pkg/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A as A\n",
    "pkg/a.py": "A = 1\ndef later():\n    from pkg.b import B\n",
    "pkg/b.py": "from typing import TYPE_CHECKING\nB = 2\nif TYPE_CHECKING:\n    from pkg.c import C\n",
    "pkg/c.py": "try:\n    from pkg import A\nexcept ImportError:\n    pass\nC = 3\n",
    "pkg/d.py": "import importlib\nD = importlib.import_module('pkg.e')\n",
    "pkg/e.py": "from . import d\n",
    "front/__init__.py": "from pkg import A\nfrom pkg.b import B\nfrom pkg import _private\n",
}


def test_the_checks_see_every_kind_of_import(tmp_path):
    """The graph these tests judge counts an import inside a function, under ``TYPE_CHECKING``, in a
    ``try``, through a package's lazy export and through ``importlib.import_module``: a cycle made of
    each kind is found, and a front end's import outside the public surface is named."""
    for relative, text in PLANTED.items():
        (tmp_path / relative).parent.mkdir(exist_ok=True)
        (tmp_path / relative).write_text(text)
    planted = ImportGraph({"pkg": tmp_path / "pkg", "front": tmp_path / "front"})
    assert planted.cycles() == [("pkg.a", "pkg.b", "pkg.c"), ("pkg.d", "pkg.e")]
    assert planted.defining_module("pkg", "A") == "pkg.a"  # the lazy export, not the package
    bad = front_end_reach(planted, ("front",), {"pkg": ""}, core="pkg")
    assert [b.split(" imports ")[1] for b in bad] == [
        "pkg.b, which is not the core's public surface",
        "the private pkg _private",
    ]


def test_no_module_over_400_lines():
    big = {
        name: n
        for name, file in modules().items()
        if (n := len(file.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not big, big


#: The only library modules that may send SQL text: each backend's own upkeep (pragmas, locks, catalogue
#: checks), never a query of the library's rows.
SQL_TEXT_ALLOWED = {"artimuse_core.library.database", "artimuse_core.library.health"}


def test_library_queries_are_sqlalchemy_expressions_not_sql_text():
    """Raw SQL (``text()``, ``exec_driver_sql``) is where one backend's spelling slips in (``current = 1``
    for a boolean is an error on PostgreSQL): the library's queries are SQLAlchemy expressions, which each
    dialect spells its own way. ``func.max(a, b)`` and ``func.min(a, b)`` are SQLite's scalar functions
    (PostgreSQL's are GREATEST, LEAST): only their one-argument aggregate form is common to both."""
    found = {}
    for name, file in modules().items():
        if not name.startswith("artimuse_core.library") or ".migrations" in name or name in SQL_TEXT_ALLOWED:
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                scalar = called in {"max", "min"} and len(node.args) > 1 and "func" in ast.unparse(node.func)
                if called in {"text", "exec_driver_sql"} or scalar:
                    found.setdefault(name, []).append(node.lineno)
    assert not found, found


def test_importing_the_core_changes_no_global_state():
    script = textwrap.dedent("""
        import json, sys, warnings
        before = list(warnings.filters)
        import artimuse_core
        from artimuse_core import EngineSpec, ScoreResult, load_config, describe_settings, display_path, home_paths
        from artimuse_core import ATTRIBUTES, CATEGORIES, resolve_attribute, normalise_category
        import artimuse_core.library, artimuse_core.library.search, artimuse_core.library.records
        from artimuse_core.library import STAR_SCORES, SEARCH_SYNTAX
        from artimuse_core.xmp import XMP_SETTINGS
        import artimuse_core.spec, artimuse_core.config, artimuse_core.results, artimuse_core.checkpoints
        assert "create_engine" in dir(artimuse_core) and "Library" in artimuse_core.library.__all__
        load_config()
        heavy = [m for m in ("torch", "transformers", "sqlalchemy", "numpy", "PIL") if m in sys.modules]
        print(json.dumps({"heavy": heavy, "filters_changed": warnings.filters != before}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(done.stdout) == {"heavy": [], "filters_changed": False}


FAST_COMMANDS = [
    ["--version"],
    ["--help"],
    ["top"],
    ["top", "--json"],
    ["show", "{image}"],
    ["history"],
    ["search", "dumm"],
    ["stats"],
    ["export"],
    ["errors"],
    ["rate", "{image}", "--stars", "4"],
    ["categorize", "{image}", "aigc"],
    ["config", "show"],
    ["config", "path"],
    ["db", "current"],
    ["status"],
    ["adapters", "list"],
    ["comfyui", "install", "{comfyui}"],
    ["report", "{image}", "-o", "{image}.html"],
    ["serve", "--help"],
    ["score", "--help"],
    ["finetune", "--help"],
    ["xmp", "write", "{image}"],
    ["ratings", "import", "{image}"],
    ["batch", "--help"],
    ["library", "import", "--help"],
    ["score", "{image}", "--model", "{empty}"],  # a folder that is no checkpoint: its one line, before any torch
]
#: The only commands that may import exiv2 (the optional, GPL 'xmp' extra).
XMP_COMMANDS = ("xmp", "ratings")


@pytest.mark.slow  # a fresh interpreter
def test_commands_that_do_not_run_the_model_never_import_torch(tmp_path, mixed_images):
    """Each command runs in a fresh interpreter's CLI (one subprocess for all, modules checked after each);
    a score whose checkpoint is not there fails (exit 2) before the engine's imports."""
    image = tmp_path / "a.png"
    image.write_bytes(mixed_images[0].read_bytes())
    comfyui = tmp_path / "ComfyUI"  # what `comfyui install` checks a ComfyUI tree by
    for folder in ("custom_nodes", "comfy"):
        (comfyui / folder).mkdir(parents=True)
    for name in ("main.py", "nodes.py", "folder_paths.py"):
        (comfyui / name).write_text("")
    home = tmp_path / "home"
    script = textwrap.dedent(f"""
        import json, os, sys
        os.environ["ARTIMUSE_HOME"] = {str(home)!r}
        from click.testing import CliRunner
        from artimuse_cli.main import cli
        from artimuse_core.library import Library, ScoredFile, file_facts
        from artimuse_core.results import ScoreResult
        from artimuse_core.testing import PROVENANCE
        with Library() as library:  # a library at the newest revision, with one scored image
            result = ScoreResult({str(image)!r}, score=50.0, std=5.0, distribution=[1 / 101] * 101,
                                 provenance=PROVENANCE, critiques={{"Overall Gestalt": "a dummy critique"}})
            library.record_scores([ScoredFile(file_facts({str(image)!r}), result, "aigc", "option")])
        for name in ("alembic", "torch", "transformers", "sqlalchemy.orm", "exiv2"):
            for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[module]
        report = []
        for args in json.loads(sys.argv[1]):
            outcome = CliRunner().invoke(cli, args)
            heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "transformers", "alembic"}})
            heavy += ["sqlalchemy.orm"] if "sqlalchemy.orm" in sys.modules else []
            heavy += ["exiv2"] if "exiv2" in sys.modules and args[0] not in {XMP_COMMANDS!r} else []
            report.append([args, outcome.exit_code, heavy, outcome.output[-300:]])
            for module in [m for m in sys.modules if args[0] in {XMP_COMMANDS!r} and m.split(".")[0] == "exiv2"]:
                del sys.modules[module]  # allowed there: the next command starts without it
        print(json.dumps(report))
    """)
    empty = tmp_path / "not-a-checkpoint"
    empty.mkdir()
    commands = [[a.format(image=image, comfyui=comfyui, empty=empty) for a in args] for args in FAST_COMMANDS]
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(commands)], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for args, code, heavy, output in json.loads(done.stdout.splitlines()[-1]):
        assert code == (2 if "--model" in args else 0), (args, output)
        assert "--model" not in args or "no config.json" in output, output
        assert heavy == [], f"`artimuse {' '.join(args)}` imported {heavy}"


def walk(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, path + (name,))


def test_every_command_and_option_has_help_text():
    from artimuse_cli.main import cli

    for path, command in walk(cli):
        assert command.help or command.short_help, f"`artimuse {' '.join(path)}` has no help"
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"`artimuse {' '.join(path)}` {param.opts[0]} has no help"
                assert "%%" not in param.help, f"`artimuse {' '.join(path)}` {param.opts[0]}: {param.help}"
        text = command.get_help(click.Context(command, info_name=path[-1] if path else "artimuse"))
        assert "%%" not in text
        # Click's no-rewrap marker is the backspace character: a backslash-b written out shows as text and
        # the examples run together into one paragraph.
        assert "\\b" not in text, f"`artimuse {' '.join(path)}` --help shows a literal \\b (write \\b, not \\\\b)"
        assert "Example" in text or "Quick start" in text, f"`artimuse {' '.join(path)}` --help has no example"


# Leaf commands that print no data of their own, and why.
NO_JSON = {
    ("watch",): "a long-running process: its output is logs (--json-logs)",
    ("comfyui", "install"): "an action on a folder: prints one line about the link it made",
}


def test_every_command_that_prints_data_has_json():
    from artimuse_cli.main import cli

    for path, command in walk(cli):
        if isinstance(command, click.Group) or path in NO_JSON:
            continue
        flags = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
        assert "--json" in flags, f"`artimuse {' '.join(path)}` has no --json"


def test_the_declared_head_is_the_newest_migration():
    from alembic.script import ScriptDirectory

    from artimuse_core.library.database import alembic_config, head_revision

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == head_revision()


@pytest.mark.parametrize(
    "query, expected",
    [
        ("dumm", '"dumm"*'),
        ('"leading lines"', '"leading lines"'),
        ("light OR shadow -noise", '("light"* OR "shadow"*) NOT "noise"*'),
        ('say "hi', '"say"* "hi"'),
        ('a"b', '"a""b"*'),
    ],
)
def test_search_queries_become_safe_fts5_expressions(query, expected):
    from artimuse_core.library.search import fts_query

    assert fts_query(query) == expected


def test_lazy_exports_load_each_declared_name_on_first_use(tmp_path, monkeypatch):
    """A package's TYPE_CHECKING imports are its names at run time: each module loads when its name is first
    asked for (not before), an undeclared name is the usual AttributeError, ``dir()`` lists them all."""
    package = tmp_path / "lazypkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from artimuse_core.exports import lazy_exports\n"
        "if TYPE_CHECKING:\n"
        "    from .heavy import VALUE as VALUE\n"
        "    from .heavy import compute as renamed\n"
        "else:\n"
        "    __getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)\n"
    )
    (package / "heavy.py").write_text("VALUE = 42\ndef compute():\n    return 'computed'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lazypkg

    assert "lazypkg.heavy" not in sys.modules and lazypkg.__all__ == ["VALUE", "renamed"]
    assert lazypkg.VALUE == 42 and "lazypkg.heavy" in sys.modules and lazypkg.renamed() == "computed"
    assert {"VALUE", "renamed"} <= set(dir(lazypkg))
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        lazypkg.missing  # noqa: B018
    for name in [m for m in sys.modules if m.startswith("lazypkg")]:
        monkeypatch.delitem(sys.modules, name)
