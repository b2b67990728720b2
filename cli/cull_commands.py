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

    \b
    Stars map to scores: """
    + STAR_SCORES
    + """.

    \b
    Examples:
      artimuse rate photo.jpg --stars 4
      artimuse rate 'shoot/IMG_01*.jpg' --pick
      artimuse rate shoot/IMG_0102.jpg shoot/IMG_0103.jpg --reject
      artimuse top --folder shoot --unrated --limit 5 --paths | artimuse rate --from-stdin --stars 3
      artimuse rate photo.jpg --clear --json
      artimuse rate shoot/IMG_0103.jpg --pick --reject-rest-of-stack
    """
)


@click.command(help=RATE_HELP, short_help="Stars, picks, rejects on images (many at once).")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--stars", type=click.FloatRange(0.5, 5), help="0.5 to 5 stars. " + STAR_SCORES + ".")
@click.option("--score", type=click.FloatRange(0, 100), help="Your own score, 0 to 100.")
@click.option("--pick/--unpick", "picked", default=None, help="Flag as a pick (or take the flag off).")
@click.option("--reject", is_flag=True, help="Reject (a cull: kept, never trained on; XMP Rating -1).")
@click.option("--clear", is_flag=True, help="Remove your stars, pick and reject.")
@click.option(
    "--reject-rest-of-stack",
    "reject_rest",
    is_flag=True,
    help="Also reject the other pictures of each one's stack (bursts, near-duplicates: `artimuse stacks`); "
    "alone, without stars or a pick, it only does that.",
)
@click.option("--from-stdin", is_flag=True, help="Also read paths from standard input, one per line.")
@json_option
def rate(
    paths: tuple[str, ...],
    stars: float | None,
    score: float | None,
    picked: bool | None,
    reject: bool,
    clear: bool,
    reject_rest: bool,
    from_stdin: bool,
    as_json: bool,
) -> None:
    from artimuse_core import collect_images

    if stars is not None and score is not None:
        raise click.UsageError("give exactly one of --stars or --score")
    change: Change | None = None
    if not reject_rest or any(v not in (None, False) for v in (stars, score, picked, reject, clear)):
        try:
            change = Change(stars, score, picked, reject, clear)
        except ValueError as exc:
            raise click.UsageError(
                f"{exc} (--stars, --score, --pick, --unpick, --reject, --clear or --reject-rest-of-stack)"
            ) from None
    if reject_rest and (reject or clear):
        raise click.UsageError("--reject-rest-of-stack keeps the picture named: give it with stars or a pick")
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
    stacked: list[dict[str, Any]] = []
    keep: list[Any] = []  # the pictures named and rated: each keeps its place in its stack
    for path in collected.files:
        if change is None:
            keep.append(path)
            continue
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
            keep.append(path)
    if reject_rest:
        stacked = _reject_rests(library, keep, rows, say_alone=change is None)
    rows += stacked
    failed = [r for r in rows if r["status"] == "failed"]
    if as_json:
        emit_json(rows)
    else:
        shown = path_shown(named)
        print_table([dict(r, path=shown(r["path"])) for r in rows], ["path", "status", "decision", "error"])
    done = sum(1 for r in rows if r["status"] == "rated")
    rest = sum(1 for r in rows if r["status"] == "rejected: rest of stack")
    already = sum(1 for r in rows if r["status"] == "already rejected")
    passed = len(rows) - done - rest - already - len(failed)
    click.echo(
        f"rated {done} image(s)"
        + (f", rejected {rest} other picture(s) of their stacks" if reject_rest else "")
        + (f" ({already} already rejected)" if already else "")
        + (f", {passed} passed over" if passed else "")
        + (f", {len(failed)} failed" if failed else ""),
        err=True,
    )
    if failed:
        sys.exit(1)


def _reject_rests(
    library: Any, keep: list[Any], rows: list[dict[str, Any]], *, say_alone: bool
) -> list[dict[str, Any]]:
    """Reject the rest of the stacks of the pictures in ``keep``: one row per other member, each stack once,
    every picture in ``keep`` kept (a failure as a failed row; a picture in no stack, when it was only named
    for this, and a member whose file is gone, as passed over)."""
    from artimuse_core import ArtiMuseError

    found: list[dict[str, Any]] = []
    done: set[int] = set()
    for path in keep:
        try:
            stack = library.stack_of(path)
            if stack is not None and stack.id in done:
                continue
            outcome = library.reject_rest_of_stack(path, keep=keep)
        except ArtiMuseError as exc:
            rows.append({"path": str(path), "status": "failed", "error": str(exc), "error_kind": "stack"})
            continue
        if outcome.stack_id is None:
            if say_alone:
                found.append({"path": outcome.kept, "status": "passed_over", "error": "in no stack: nothing to reject"})
            continue
        done.add(outcome.stack_id)
        found += [
            {"path": p, "status": "rejected: rest of stack", "decision": "rejected", "kept": outcome.kept}
            for p in outcome.rejected
        ]
        found += [
            {"path": p, "status": "already rejected", "decision": "rejected", "kept": outcome.kept}
            for p in outcome.already
        ]
        found += [
            {"path": p, "status": "passed_over", "error": "gone: no longer on disk", "kept": outcome.kept}
            for p in outcome.gone
        ]
    return found


COMMANDS = [rate]
__all__ = ["COMMANDS"]
