"""`artimuse ask`: a free-form question about images, answered greedily by the model (UniPercept's VQA,
ArtiMuse's chat)."""

from __future__ import annotations

import sys
from typing import Any

import click

from artimuse_core import display_path

from .context import app
from .options import engine_options, flagify, format_option, json_option
from .output import emit_rows, secho


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.argument("question")
@engine_options()
@format_option(["text", "json", "jsonl"], "text for people; json or jsonl (one object per image) for scripts.")
@json_option
def ask(paths: tuple[str, ...], question: str, fmt: str, as_json: bool) -> None:
    """Ask the model QUESTION about each image (files, folders or glob patterns; the question comes last).

    The answer is greedy and token-identical to the authors' `chat()`; --max-new-tokens bounds its length.
    Nothing is recorded in the library. Exit code 1 when any image failed (listed with its error).

    \b
    Examples:
      artimuse ask photo.jpg "Describe the quality of this image." --model ./UniPercept
      artimuse ask shots/*.jpg "Is the horizon level?" --json
    """
    from artimuse_core import collect_images

    fmt = "json" if as_json else fmt
    context = app()
    collected = collect_images(list(paths))
    rows: list[dict[str, Any]] = [
        {"path": display_path(path), "question": question, "text": None, "error": message, "error_kind": kind}
        for path, kind, message in collected.problems
    ]
    if collected.files:
        engine = context.engine()
        limit = context.settings.spec.max_new_tokens
        rows += [dict(r.to_dict(), path=display_path(r.path)) for r in engine.ask(collected.files, question, limit)]
    if fmt == "text":
        for row in rows:
            if len(rows) > 1:
                secho(row["path"], bold=True)
            if row["error"]:
                secho(f"  error: {flagify(row['error'])}", fg="red", err=True)
            else:
                click.echo(("  " if len(rows) > 1 else "") + row["text"])
    else:
        emit_rows(rows, fmt, ["path", "question", "text", "error"])
    if not rows:
        click.echo("nothing to ask about: no image files found", err=True)
        sys.exit(1)
    if any(r["error"] for r in rows):
        sys.exit(1)


COMMANDS = [ask]
