"""`artimuse rate`: culling from the terminal. Stars (or a score), picks, rejects and clears on many images at
once (files, folders, glob patterns, or paths on standard input from `artimuse top --paths`), recorded as the
gallery records them (``Library.rate``: the rest of each image's decision carries over)."""

from __future__ import annotations

import sys
from typing import Any

import click

from artimuse_core import ImageError
from artimuse_core.library import STAR_SCORES, Change

from .context import app
from .options import decision_text, json_option
from .output import emit_json, path_shown, print_table

RATE_HELP = (
    """Record your own decisions on images: stars (or a score), a pick, a reject, or clear them. What
    `artimuse finetune --from-db` learns from, what `artimuse xmp write` puts into your photo manager's XMP
    (a reject as Rating -1, a pick as the pick label).

    PATHS are files, folders (every image in them) or glob patterns; --from-stdin also reads one path per line
    (`artimuse top --paths`). Stars keep a pick and a pick keeps the stars; a reject drops both; --clear
    drops everything. Every image is listed: rated, or failed with the reason (not an image the library can
    read); exit code 1 when any failed.

    \\b
    Stars map to scores: """
    + STAR_SCORES
    + """.

    \\b
    Examples:
      artimuse rate photo.jpg --stars 4
      artimuse rate 'shoot/IMG_01*.jpg' --pick
      artimuse rate shoot/IMG_0102.jpg shoot/IMG_0103.jpg --reject
      artimuse top --folder shoot --unrated --limit 5 --paths | artimuse rate --from-stdin --stars 3
      artimuse rate photo.jpg --clear --json
    """
)


@click.command(help=RATE_HELP, short_help="Stars, picks, rejects on images (many at once).")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--stars", type=click.FloatRange(0.5, 5), help="0.5 to 5 stars. " + STAR_SCORES + ".")
@click.option("--score", type=click.FloatRange(0, 100), help="Your own score, 0 to 100.")
@click.option("--pick/--unpick", "picked", default=None, help="Flag as a pick (or take the flag off).")
@click.option("--reject", is_flag=True, help="Reject (a cull: kept, never trained on; XMP Rating -1).")
@click.option("--clear", is_flag=True, help="Remove your stars, pick and reject.")
@click.option("--from-stdin", is_flag=True, help="Also read paths from standard input, one per line.")
@json_option
def rate(
    paths: tuple[str, ...],
    stars: float | None,
    score: float | None,
    picked: bool | None,
    reject: bool,
    clear: bool,
    from_stdin: bool,
    as_json: bool,
) -> None:
    from artimuse_core import collect_images

    if stars is not None and score is not None:
        raise click.UsageError("give exactly one of --stars or --score")
    try:
        change = Change(stars, score, picked, reject, clear)
    except ValueError as exc:
        raise click.UsageError(f"{exc} (--stars, --score, --pick, --unpick, --reject or --clear)") from None
    named = list(paths) + ([line.strip() for line in sys.stdin if line.strip()] if from_stdin else [])
    if not named:
        raise click.UsageError("name the images to rate (PATHS, or --from-stdin)")
    collected = collect_images(named)
    library = app().library()
    rows: list[dict[str, Any]] = [
        {"path": path, "status": "failed", "error": message, "error_kind": kind}
        for path, kind, message in collected.problems
    ]
    rows += [
        {"path": item.path, "status": "passed_over", "error": item.message, "error_kind": item.kind}
        for item in collected.passed_over
    ]
    for path in collected.files:
        try:
            record = library.rate(
                path,
                stars=change.stars,
                score=change.score,
                picked=change.picked,
                rejected=change.rejected,
                clear=change.clear,
            )
        except ImageError as exc:
            rows.append({"path": str(path), "status": "failed", "error": exc.reason, "error_kind": exc.kind})
        except OSError as exc:
            rows.append(
                {"path": str(path), "status": "failed", "error": exc.strerror or str(exc), "error_kind": "unreadable"}
            )
        else:
            rows.append({**record.to_dict(), "status": "rated", "decision": decision_text(record)})
    failed = [r for r in rows if r["status"] == "failed"]
    if as_json:
        emit_json(rows)
    else:
        shown = path_shown(named)
        print_table([dict(r, path=shown(r["path"])) for r in rows], ["path", "status", "decision", "error"])
    done = sum(1 for r in rows if r["status"] == "rated")
    passed = len(rows) - done - len(failed)
    click.echo(
        f"rated {done} image(s)"
        + (f", {passed} passed over" if passed else "")
        + (f", {len(failed)} failed" if failed else ""),
        err=True,
    )
    if failed:
        sys.exit(1)


COMMANDS = [rate]
__all__ = ["COMMANDS"]
