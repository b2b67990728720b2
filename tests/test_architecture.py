"""Contracts of the layout, checked in CI: the core imports no front end and front ends no private core
name; no import cycles; no module over ~400 lines; commands that do not run the model start without torch,
transformers, SQLAlchemy's ORM (or Alembic when no migration is due); every command and option has help;
--json everywhere."""

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
#: Optional extras' heavy packages and the only modules that may import them (anywhere in the module): the
#: batch plan and the module that joins or starts Ray (address, probe, watchdog); the rest of the plugin
#: (inputs, parts, lease, stages, importing) runs and is tested without Ray.
EXTRA_IMPORTERS = {"ray": {"artimuse_batch.pipeline", "artimuse_batch.cluster"}}
MAX_LINES = 400


@functools.cache
def modules() -> dict[str, Path]:
    found = {}
    for package, root in PACKAGES.items():
        for file in root.rglob("*.py"):
            if "tools" in file.relative_to(root).parts:
                continue  # scripts shipped for users to run by hand, not imported
            parts = file.relative_to(root).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = file
    return found


def imports(name: str, file: Path, top_level_only: bool = False) -> list[tuple[str, list[str]]]:
    """(module imported, names imported from it) for every import in ``file``, relative ones resolved."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    package = name if file.name == "__init__.py" else name.rsplit(".", 1)[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [alias.name for alias in node.names]))
            for alias in node.names:  # `from . import prompts` imports a module
                found.append((f"{target}.{alias.name}", []))
    return found


def test_the_core_imports_no_front_end():
    for name, file in modules().items():
        if name.startswith("artimuse_core"):
            bad = [m for m, _ in imports(name, file) if m.split(".")[0] in FRONT_ENDS + ("cli", "plugins")]
            assert not bad, f"{name} imports the front end {bad}"


def test_front_ends_import_only_the_public_core():
    for name, file in modules().items():
        if name.split(".")[0] in FRONT_ENDS:
            for module, names in imports(name, file):
                if module.startswith("artimuse_core"):
                    private = [n for n in [*module.split("."), *names] if n.startswith("_")]
                    assert not private, f"{name} imports private {module} {names}"


def test_command_modules_never_import_the_cli_root():
    for name, file in modules().items():
        if name.startswith("artimuse_cli.") and name not in ("artimuse_cli.main", "artimuse_cli.__main__"):
            assert "artimuse_cli.main" not in [m for m, _ in imports(name, file)], name


def test_only_the_batch_pipeline_imports_ray():
    for name, file in modules().items():
        for extra, allowed in EXTRA_IMPORTERS.items():
            if name not in allowed:
                found = [m for m, _ in imports(name, file) if m == extra or m.startswith(extra + ".")]
                assert not found, f"{name} imports {found}: only {sorted(allowed)} may (the {extra} extra)"


def test_no_import_cycles():
    """Module-level imports between our own modules form no cycle (imports inside functions are lazy)."""
    # An edge to one's own parent package is no cycle: Python initialises the parent first.
    graph = {
        name: sorted(
            {
                m
                for m, _ in imports(name, file, top_level_only=True)
                if m in modules() and m != name and not name.startswith(m + ".")
            }
        )
        for name, file in modules().items()
    }
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])


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
        from artimuse_core import EngineSpec, ScoreResult, load_config, describe_settings
        import artimuse_core.library, artimuse_core.library.search, artimuse_core.library.records
        import artimuse_core.spec, artimuse_core.config, artimuse_core.results, artimuse_core.checkpoints
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
]
#: The only commands that may import exiv2 (the optional, GPL 'xmp' extra).
XMP_COMMANDS = ("xmp", "ratings")


def test_commands_that_do_not_run_the_model_never_import_torch(tmp_path, mixed_images):
    """Each command runs in a fresh interpreter's CLI (one subprocess for all, modules checked after each)."""
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
    commands = [[a.format(image=image, comfyui=tmp_path / "ComfyUI") for a in args] for args in FAST_COMMANDS]
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(commands)], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for args, code, heavy, output in json.loads(done.stdout.splitlines()[-1]):
        assert code == 0, (args, output)
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
