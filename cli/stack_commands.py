"""`artimuse stacks` and `artimuse select`: bursts and near-duplicates grouped, the best of each, and the best N
of a batch without near-duplicates. Thin over ``Library.stacks``; neither loads a model."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from artimuse_core import STACK_SETTINGS, parse_gap, stack_settings

from .context import app
from .options import json_option
from .output import emit_json, path_shown, print_table, printable

_HELP = {s.name: s.help for s in STACK_SETTINGS}


def _gap(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_gap(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def stack_options(func: Any) -> Any:
    """``--threshold``, ``--gap``, ``--burst-threshold`` and ``-k``: the stack settings (``STACK_SETTINGS``)."""
    func = click.option("-k", "k", type=click.FloatRange(0), help=_HELP["stack_k"])(func)
    func = click.option("--burst-threshold", type=click.IntRange(0, 32), metavar="BITS", help=_HELP["burst_threshold"])(
        func
    )
    func = click.option("--gap", callback=_gap, metavar="DURATION", help=_HELP["burst_gap"] + " E.g. 2s, 500ms.")(func)
    return click.option("--threshold", type=click.IntRange(0, 24), metavar="BITS", help=_HELP["stack_threshold"])(func)


def chosen_settings(threshold: int | None, gap: float | None, burst_threshold: int | None, k: float | None) -> Any:
    """The stack settings these options give (None where the stored stacks serve) and the resolved ones."""
    values = app().settings.stacks  # the config file's and the environment's
    resolved = stack_settings(values, threshold=threshold, gap=gap, burst_threshold=burst_threshold, k=k)
    regroup = any(v is not None for v in (threshold, gap, burst_threshold))
    return (resolved if regroup or k is not None else None), resolved


@click.command()
@click.argument("folders", nargs=-1, type=click.Path(file_okay=False))
@stack_options
@json_option
def stacks(
    folders: tuple[str, ...],
    threshold: int | None,
    gap: float | None,
    burst_threshold: int | None,
    k: float | None,
    as_json: bool,
) -> None:
    """Stacks of bursts and near-duplicates in the library (inside FOLDERS, when named), each with its members'
    scores, the best and why.

    A stack is pictures whose perceptual hashes are near-identical (a resized or re-compressed copy, an
    AIGC batch's near-identical seeds), or taken within --gap of each other with similar hashes (a burst).
    The best has the highest lower bound, score - k x std; your own pick and stars win over the model.
    Stacks are kept as files are scored; other --threshold/--gap values group them again for this listing.

    \b
    Examples:
      artimuse stacks ~/Pictures/2026-05-01
      artimuse stacks shoot --gap 1s --threshold 6
      artimuse stacks --json | jq -r '.[].best'
    """
    settings, resolved = chosen_settings(threshold, gap, burst_threshold, k)
    library = app().library()
    found = library.stacks(list(folders), settings=settings)
    unknown = [f for f in folders if not found and not library.known_files(f)]
    if unknown:  # nothing to group there: say why, rather than list no stacks as if it had none
        raise click.ClickException(
            f"no picture under {printable(str(unknown[0]))} is in the library: `artimuse score {unknown[0]}` first"
        )
    if as_json:
        emit_json(found)
        return
    shown = path_shown(folders or ["/"])
    for stack in found:
        click.echo(f"stack {stack.id}: {stack.size} pictures, best {printable(shown(stack.best))}")
        click.echo(f"  why: {stack.reason}")
        rows = [
            {
                "": "*" if m.image_id == stack.best_id else "",
                "score": m.score,
                "std": m.std,
                "lower_bound": m.lower_bound,
                "yours": "rejected" if m.rejected else "picked" if m.picked else m.stars,
                "path": shown(m.path),
            }
            for m in stack.members
        ]
        print_table(rows, ["", "score", "std", "lower_bound", "yours", "path"])
    pictures = sum(s.size for s in found)
    click.echo(f"{len(found)} stack(s) of {pictures} picture(s) (k = {resolved.k:g})", err=True)


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("-n", "count", type=click.IntRange(1), default=10, show_default=True, help="How many pictures to select.")
@click.option("--distinct", is_flag=True, help="At most one picture per stack (skip near-duplicates and bursts).")
@click.option("--paths", "only_paths", is_flag=True, help="Print only the selected paths, one per line.")
@click.option("--copy-to", type=click.Path(file_okay=False), help="Copy the selected files into this folder.")
@click.option("--link-to", type=click.Path(file_okay=False), help="Symlink the selected files into this folder.")
@stack_options
@json_option
def select(
    folder: str,
    count: int,
    distinct: bool,
    only_paths: bool,
    copy_to: str | None,
    link_to: str | None,
    threshold: int | None,
    gap: float | None,
    burst_threshold: int | None,
    k: float | None,
    as_json: bool,
) -> None:
    """The best N pictures of a scored folder (a shoot, an AIGC batch), by the same rule as the best of a stack:
    your picks and stars first, then the highest lower bound; rejects never. --distinct takes at most one per
    stack. Files already at the destination are never overwritten (each is reported), and nothing is
    written outside it.

    \b
    Examples:
      artimuse select batch/ -n 8 --distinct --paths
      artimuse select shoot -n 20 --distinct --copy-to shoot/best
      artimuse select renders -n 4 --link-to picks --json
    """
    if copy_to and link_to:
        raise click.UsageError("give one of --copy-to or --link-to")
    settings, resolved = chosen_settings(threshold, gap, burst_threshold, k)
    chosen = app().library().select(folder, count, distinct=distinct, settings=settings or resolved)
    destination = copy_to or link_to
    placed = _place(chosen, Path(destination), link=bool(link_to)) if destination else {}
    if only_paths:
        for member in chosen:
            click.echo(printable(member.path))
    elif as_json:
        emit_json([{**m.to_dict(), **({"placed": placed[m.path]} if placed else {})} for m in chosen])
    else:
        shown = path_shown([folder])
        rows = [
            {"rank": i, **m.to_dict(), "path": shown(m.path), **({"placed": placed[m.path]} if placed else {})}
            for i, m in enumerate(chosen, 1)
        ]
        print_table(rows, ["rank", "score", "std", "lower_bound", "path"] + (["placed"] if placed else []))
    kept = [p for p, outcome in placed.items() if outcome.startswith(NOT_WRITTEN)]
    click.echo(
        f"selected {len(chosen)} of the folder's scored pictures"
        + (f"; {len(kept)} not written (each said above)" if kept else ""),
        err=True,
    )
    if kept:
        sys.exit(1)


def _place(chosen: list[Any], destination: Path, *, link: bool) -> dict[str, str]:
    """Copy or link each file into ``destination`` under its own name; never over an existing file, never two
    files under one name, never a link to a file that is gone. Each path's outcome: where it was written, or
    why not (``NOT_WRITTEN`` prefixes)."""
    destination.mkdir(parents=True, exist_ok=True)
    placed: dict[str, str] = {}
    taken: dict[str, str] = {}  # name -> the path written under it in this run
    for member in chosen:
        name = os.path.basename(member.path)
        target = destination / name
        if name in taken:
            placed[member.path] = f"not written: {printable(name)} is also the name of {printable(taken[name])}"
        elif target.exists() or target.is_symlink():
            placed[member.path] = f"exists, not overwritten: {printable(str(target))}"
        elif not os.path.exists(member.path):
            placed[member.path] = "failed: the file is gone (deleted or moved since it was scored)"
        else:
            try:
                if link:
                    target.symlink_to(os.path.abspath(member.path))
                else:
                    shutil.copy2(member.path, target)
            except OSError as exc:
                placed[member.path] = f"failed: {exc.strerror or exc}"
            else:
                placed[member.path] = str(target)
                taken[name] = member.path
                continue
        click.echo(f"{printable(member.path)}: {placed[member.path]}", err=True)
    return placed


#: How ``_place`` starts the outcome of a file it did not write.
NOT_WRITTEN = ("exists", "not written", "failed")


COMMANDS = [stacks, select]
__all__ = ["COMMANDS", "chosen_settings", "stack_options"]
