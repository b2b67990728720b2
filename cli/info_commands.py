"""`artimuse models` and `artimuse doctor`: what can run here, and what to fix when it cannot."""

from __future__ import annotations

import sys

import click

from artimuse_core import settings_at

from .context import app
from .options import engine_options, flagify, json_option
from .output import emit_json, print_table, styled

#: What `doctor` judges is the engine a load would build: the settings of how files become pixels and of
#: one call's work do not change that.
NOT_ENGINE_LOAD = tuple(s.name for s in settings_at("image", "call"))


@click.command()
@json_option
def models(as_json: bool) -> None:
    """The published ArtiMuse checkpoints, how each uses the 0-100 scale (it learnt its training set's
    ratings), and whether each is in the local Hugging Face cache.

    \b
    Example:
      artimuse models --json
    """
    from artimuse_core import list_models

    rows = [m.to_dict() for m in list_models()]
    if as_json:
        emit_json(rows)
        return
    print_table(rows, ["name", "trained_on", "paper_srcc", "available", "scale"])
    click.echo("\nGet one with: hf download Thunderbolt215215/ArtiMuse  (or pass --model /path/to/folder)")


@click.command()
@engine_options(exclude=NOT_ENGINE_LOAD)
@json_option
def doctor(as_json: bool) -> None:
    """Check that the configured model can run here, short of loading or downloading it: the checkpoint
    (a folder, the Hugging Face cache, or a hub that answers and a disk with room for the download), the
    memory the chosen dtype needs against this machine's RAM (or its GPU's), the checkpoint's own files,
    the device and the adapter; and the speed to expect (GPU, CPU with AMX, plain CPU). Each problem comes
    with what to do about it.

    Exit code 0 when the configured model can run here, 1 otherwise (`artimuse demo` shows the product
    meanwhile, on tiny random weights).

    \b
    Examples:
      artimuse doctor
      artimuse doctor --model ./ArtiMuse_AVA --device cuda --json
      artimuse doctor --dtype bfloat16 --batch-size 1
    """
    from artimuse_core import diagnose

    context = app()
    found = diagnose(context.settings, machine=context.machine(), probe=context.hub_probe)
    report = found.to_dict()
    problems = [{key: flagify(text) for key, text in p.items()} for p in report["problems"]]
    report.update(problems=problems, notes=[flagify(n) for n in report["notes"]])
    if report.get("checkpoint_problem"):
        report["checkpoint_problem"] = flagify(report["checkpoint_problem"])
    if as_json:
        emit_json(report)
    else:
        for key, value in report.items():
            if key in ("problems", "ready", "machine_facts", "speed_estimate"):
                continue
            if isinstance(value, bool):
                value = styled("yes", fg="green") if value else styled("no", fg="yellow")
            elif isinstance(value, list) and value:
                value = "; ".join(map(str, value))
            click.echo(f"{key:>24}: {value if value not in (None, []) else '-'}")
        for problem in problems:
            click.echo(styled(f"\nproblem: {problem['problem']}", fg="red"))
            click.echo(f"    fix: {problem['fix']}")
        if problems:
            click.echo("\nmeanwhile, `artimuse demo` shows the whole product working on tiny random weights")
        else:
            speed = f" ({report['speed']})" if report.get("speed") else ""
            click.echo(styled(f"\nready: the configured model can run here{speed}", fg="green"))
    if problems:
        sys.exit(1)


COMMANDS = [models, doctor]
