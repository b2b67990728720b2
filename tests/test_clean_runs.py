"""Installs and runs say only what matters: every folder of the packages is declared (so setuptools never
warns that one "would be ignored"; the build itself: tests/test_install.py), no code calls an API that
transformers marks deprecated, fuzzing draws the same inputs in every run of a commit, and a run ends with
one summary line, saying each file's error once."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
OUR_CODE = ("artimuse_core", "cli", "plugins", "bench")


def test_every_folder_of_the_packages_is_declared():
    """A folder Python could import (templates, static files, workflows...) that `packages` does not name
    is what makes setuptools print "Package would be ignored"."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    for package, folder in config["package-dir"].items():
        for sub in (REPO / folder).rglob("*"):
            if sub.is_dir() and "__pycache__" not in sub.parts and any(f.is_file() for f in sub.iterdir()):
                name = ".".join((package, *sub.relative_to(REPO / folder).parts))
                assert name in declared, f"{sub.relative_to(REPO)} is not declared as the package {name}"


@pytest.mark.slow  # imports transformers (~2 s in each test process): the full suite runs it
def test_no_code_calls_what_transformers_marks_deprecated():
    """Names ``PreTrainedModel`` documents as deprecated aliases (``gradient_checkpointing_enable``...)
    appear nowhere in our code; found from transformers itself, so the list follows its upgrades."""
    from transformers import PreTrainedModel

    deprecated = [
        name
        for name, member in inspect.getmembers(PreTrainedModel)
        if "deprecated" in (inspect.getdoc(member) or "").split("\n")[0].lower()
    ]
    assert "gradient_checkpointing_enable" in deprecated  # the check finds what it is meant to
    pattern = re.compile(rf"\.({'|'.join(map(re.escape, deprecated))})\b")
    for root in OUR_CODE:
        for file in (REPO / root).rglob("*.py"):
            for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
                assert not pattern.search(line), f"{file.relative_to(REPO)}:{number} calls a deprecated name: {line}"


def test_fuzzing_is_seeded_and_keeps_no_database():
    from hypothesis import settings

    assert settings.default.derandomize and settings.default.database is None
    for file in (REPO / "tests").glob("test_*.py"):
        text = file.read_text(encoding="utf-8")
        assert not re.search(r"derandomize\s*=|database\s*=", text), f"{file.name} overrides the seeded profile"


DRAWS = """
from hypothesis import given, strategies as st

@given(st.binary(max_size=64), st.integers())
def test_draw(data, number):
    with open(__import__("os").environ["DRAWS_FILE"], "a") as out:
        out.write(f"{data!r} {number}\\n")
"""


@pytest.mark.slow
def test_two_runs_of_one_commit_draw_the_same_inputs(tmp_path):
    """The conftest profile seeds hypothesis: two processes running the same test draw the same examples."""
    test_file = tmp_path / "test_draws.py"
    test_file.write_text(DRAWS)
    runs = []
    for run in range(2):
        draws = tmp_path / f"draws{run}.txt"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "--rootdir", str(tmp_path), str(test_file)],
            cwd=REPO,
            env={**__import__("os").environ, "DRAWS_FILE": str(draws)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        runs.append(draws.read_text())
    assert runs[0] == runs[1] and len(runs[0].splitlines()) >= 50


@pytest.mark.parametrize("command", [["score"], ["score", "--no-save"], ["critique"], ["critique", "-a", "technical"]])
def test_a_missing_path_ends_the_run_with_one_summary_line(run_cli, home, command, tmp_path):
    missing = tmp_path / "missing"
    result = run_cli(*command, missing)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["0 scored, 1 failed"], result.stderr
    assert result.stdout.count("no such file or folder") == 1, result.stdout  # the file's error, said once


def test_a_missing_results_folder_is_an_error_not_an_empty_import(run_cli, home, tmp_path):
    result = run_cli("library", "import", tmp_path / "missing.parquet")
    assert result.exit_code == 2 and "does not exist" in result.output and "imported" not in result.output
