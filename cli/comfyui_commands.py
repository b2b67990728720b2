"""`artimuse comfyui install`: put the ArtiMuse node pack into a ComfyUI installation, and say whether the
Python that runs ComfyUI can import it. Imports nothing heavy (no torch): it only links files and asks."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import click

PACK_NAME = "ComfyUI-ArtiMuse"
COMFYUI_MARKERS = ("main.py", "nodes.py", "folder_paths.py", "comfy", "custom_nodes")


@click.group()
def comfyui() -> None:
    """The ComfyUI node pack (ArtiMuse Load Model, Score, Critique, Select Best, Save Image).

    \b
    Example:
      artimuse comfyui install ~/ComfyUI
    """


def pack_source() -> Path:
    """The installed pack's folder, found without importing it (importing it would import torch)."""
    spec = importlib.util.find_spec("artimuse_comfyui")
    assert spec is not None and spec.submodule_search_locations, "the node pack is part of this package"
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def project_source() -> Path | None:
    """The artimuse-studio checkout the pack lives in, if it does (what ComfyUI's Python should install)."""
    root = pack_source().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "artimuse_core").is_dir() else None


def installed_from() -> str | None:
    """Where this artimuse-studio was installed from, as pip recorded it (PEP 610 direct_url.json): a git
    repository at its commit, or a folder or archive that still exists. None for an index install."""
    import importlib.metadata
    from urllib.parse import unquote, urlparse

    try:
        recorded = importlib.metadata.distribution("artimuse-studio").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    if not recorded:
        return None
    origin = json.loads(recorded)
    url = origin.get("url", "")
    vcs = origin.get("vcs_info")
    if vcs:
        commit = vcs.get("commit_id")
        return f"artimuse-studio @ {vcs.get('vcs', 'git')}+{url}" + (f"@{commit}" if commit else "")
    path = Path(unquote(urlparse(url).path)) if url.startswith("file:") else None
    return str(path) if path is not None and path.exists() else None


def install_target() -> str:
    """What ComfyUI's Python should pip-install (one quoted argument or -r FILE) so that it gets this
    artimuse-studio: this checkout, else where it was installed from, else the pack's requirements.txt
    (the package from its repository: no package index has it yet)."""
    source = project_source() or installed_from()
    if source is not None:
        return f'"{source}"'
    return f'-r "{pack_source() / "requirements.txt"}"'


def comfyui_tree(folder: Path) -> Path:
    """The ComfyUI source folder: FOLDER itself, or FOLDER/ComfyUI (the Windows portable build's layout)."""
    for candidate in (folder, folder / "ComfyUI"):
        if all((candidate / marker).exists() for marker in COMFYUI_MARKERS):
            return candidate
    raise click.ClickException(f"{folder}: not a ComfyUI folder (expected {', '.join(COMFYUI_MARKERS)} inside)")


def comfyui_python(tree: Path, given: Path | None) -> tuple[Path | None, str]:
    """Which Python runs ComfyUI: the one given, the portable build's, a venv in or beside the tree."""
    if given is not None:
        return given, "given with --python"
    windows = sys.platform == "win32"
    candidates = [
        (tree.parent / "python_embeded" / "python.exe", "the portable build's python_embeded"),
        *[
            (tree / venv / ("Scripts/python.exe" if windows else "bin/python"), f"the {venv} inside ComfyUI")
            for venv in ("venv", ".venv")
        ],
        *[
            (tree.parent / venv / ("Scripts/python.exe" if windows else "bin/python"), f"the {venv} beside ComfyUI")
            for venv in ("venv", ".venv")
        ],
    ]
    for path, how in candidates:
        if path.is_file():
            return path, how
    return None, "not found (no python_embeded, venv or .venv in or beside the ComfyUI folder)"


def can_import(python: Path, where: Path) -> tuple[bool, str]:
    """Ask ComfyUI's Python, started in the ComfyUI folder ``where`` as ComfyUI is, whether artimuse-studio
    is installed there and its core imports with its dependencies (numpy, Pillow; no torch: fast). Run from
    here, the current folder (a checkout) would be importable whatever that Python has installed, and the
    core's package itself imports nothing: the probe imports a module that needs the dependencies."""
    probe = (
        "import importlib.metadata as m, os, artimuse_core, artimuse_core.images; "
        "print(m.version('artimuse-studio'), os.path.dirname(artimuse_core.__file__))"
    )
    try:
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120, cwd=where)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"could not run it ({exc})"
    if done.returncode == 0:
        return True, done.stdout.strip()
    lines = done.stderr.strip().splitlines()
    return False, lines[-1] if lines else f"exit code {done.returncode}"


@comfyui.command("install")
@click.argument("comfyui_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--copy", is_flag=True, help="Copy the pack instead of linking it (a link follows upgrades).")
@click.option("--force", is_flag=True, help="Replace an existing ComfyUI-ArtiMuse in custom_nodes.")
@click.option(
    "--python",
    "python",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The Python that runs ComfyUI, when it is not the portable build's or a venv in or beside it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def install(comfyui_dir: Path, copy: bool, force: bool, python: Path | None, as_json: bool) -> None:
    """Link (or copy) the node pack into COMFYUI_DIR/custom_nodes/ComfyUI-ArtiMuse.

    COMFYUI_DIR is the ComfyUI folder (or the portable build's folder holding it). Then it reports which
    Python runs ComfyUI and whether that Python can import artimuse-studio; if not, it prints the exact
    pip command to run with it. Restart ComfyUI afterwards; the nodes are under "ArtiMuse".

    \b
    Examples:
      artimuse comfyui install ~/ComfyUI
      artimuse comfyui install ~/ComfyUI_windows_portable --copy --json
    """
    tree = comfyui_tree(comfyui_dir)
    source = pack_source()
    target = tree / "custom_nodes" / PACK_NAME
    if target.exists() or target.is_symlink():
        if not force:
            raise click.ClickException(f"{target} exists; use --force to replace it")
        if target.is_symlink() or target.is_file():
            target.unlink()
        else:
            shutil.rmtree(target)
    if copy:
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        target.symlink_to(source, target_is_directory=True)
    interpreter, how = comfyui_python(tree, python)
    importable, detail = can_import(interpreter, tree) if interpreter else (False, "")
    fix = f'"{interpreter or "<ComfyUI python>"}" -m pip install {install_target()}'
    report = {
        "action": "copied" if copy else "linked",
        "source": str(source),
        "target": str(target),
        "comfyui_python": str(interpreter) if interpreter else None,
        "found": how,
        "importable": importable,
        "detail": detail,
        "fix": None if importable else fix,
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['action']} {source} -> {target}")
    click.echo(f"ComfyUI's Python: {interpreter or '?'} ({how})")
    if importable:
        click.echo(
            f"it imports artimuse-studio {detail}; restart ComfyUI, the nodes are under 'ArtiMuse'. "
            f"Checkpoints go in {tree / 'models' / 'artimuse'}/<name>/."
        )
    elif interpreter:
        click.echo(
            f"it cannot import artimuse-studio ({detail}). Install it into that Python:\n  {fix}\nthen restart ComfyUI."
        )
    else:
        click.echo(
            f"install artimuse-studio into the Python that runs ComfyUI:\n  {fix}\n"
            "(or run this again with --python PATH to have it checked), then restart ComfyUI."
        )


COMMANDS = [comfyui]

__all__ = ["COMMANDS", "PACK_NAME", "comfyui", "install"]
