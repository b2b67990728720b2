"""`artimuse comfyui install`: put the ArtiMuse node pack into a ComfyUI installation."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

PACK_NAME = "ComfyUI-ArtiMuse"


@click.group()
def comfyui():
    """The ComfyUI node pack (ArtiMuse Load Model, Score, Critique, Select Best, Save Image)."""


@comfyui.command("install")
@click.argument("comfyui_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--copy", is_flag=True, help="Copy the pack instead of linking it (a link follows upgrades).")
@click.option("--force", is_flag=True, help="Replace an existing ComfyUI-ArtiMuse in custom_nodes.")
def install(comfyui_dir, copy, force):
    """Link (or copy) the node pack into COMFYUI_DIR/custom_nodes/ComfyUI-ArtiMuse.

    Install artimuse-studio into ComfyUI's own Python environment too, then restart ComfyUI.
    """
    import importlib.util

    custom_nodes = Path(comfyui_dir) / "custom_nodes"
    if not custom_nodes.is_dir():
        raise click.ClickException(f"{comfyui_dir}: not a ComfyUI folder (no custom_nodes/ inside)")
    # Found, not imported: importing the pack would load torch to make a link.
    source = Path(importlib.util.find_spec("artimuse_comfyui").origin).resolve().parent
    target = custom_nodes / PACK_NAME
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
    click.echo(f"{'copied' if copy else 'linked'} {source} -> {target}\nrestart ComfyUI; the nodes are under "
               "'ArtiMuse'. Put checkpoints in ComfyUI/models/artimuse/<name>/ or pick a published one.")


COMMANDS = [comfyui]
