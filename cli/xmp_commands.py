"""`artimuse xmp write` and `artimuse ratings import`: the library and photo managers, both ways.

Both need the optional ``xmp`` extra (python-exiv2, GPL-3.0-or-later); without it they stop with one line
saying what to install. ``score --xmp`` and ``watch --xmp`` write sidecars with the core's
``write_after_scoring`` once the library door has recorded their results.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from typing import Any

import click

from artimuse_core import ImageError, display_path

from .context import app
from .options import check_xmp, flagify, json_option, xmp_options
from .output import emit_json, print_table, progress_bar

XMP_HELP = """Your decisions, scores and critiques into XMP sidecars that Lightroom, darktable, digiKam, Capture
One read.

\b
xmp:Rating holds your own stars where you gave them (the gallery, `artimuse rate`), -1 for a reject;
your picks get the --pick-label colour (xmp:Label, Green by default). Where you gave no stars the model's
go there (--xmp-rating yours-or-model, the default; `yours` leaves them out), from the score through
--rating-mode: fixed thresholds (20/40/60/80 by default: score 80+ = 5 stars) or percentiles of each
folder's scores (10/30/70/90: the best 10% get 5 stars); --reject-below writes -1 (reject). Everything
ArtiMuse knows goes into the artimuse: namespace (http://ns.artimuse.studio/1.0/). A rating or label set in
the photo manager since ArtiMuse last wrote the sidecar is never replaced (unless you decided again in
ArtiMuse afterwards, or --overwrite-ratings); every other property of an existing sidecar is kept exactly.

\b
Examples:
  artimuse xmp write ~/Pictures/2026 --xmp-naming lightroom
  artimuse xmp write . --rating-mode percentile --reject-below 15
"""


def _images(paths: Iterable[str]) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """(images, failed (path, reason), passed over (path, reason)) for PATHS: files as given, folders walked.
    RAW files are images here (their sidecars hold ratings); sidecars found by the walk go with their image."""
    from artimuse_core import collect_images

    collected = collect_images(list(paths))
    images = [str(p) for p in collected.files]
    passed: list[tuple[str, str]] = []
    for item in collected.passed_over:
        if item.kind == "no_decoder":
            images.append(item.path)
        elif item.path.lower().endswith(".xmp"):
            passed.append((item.path, "XMP sidecar"))
        else:
            passed.append((item.path, item.label))
    failed = [(path, message) for path, _kind, message in collected.problems]
    return images, failed, passed


@click.group(help=XMP_HELP, short_help="Scores into XMP sidecars for photo managers.")
def xmp() -> None:
    pass


@xmp.command("write")
@click.argument("paths", nargs=-1, required=True)
@xmp_options
@json_option
def xmp_write(paths: tuple[str, ...], as_json: bool) -> None:
    """Write your decisions and the library's scores and critiques into the XMP of images (files or folders);
    no model runs.

    Each image gets its latest current evaluation and your latest decision (stars, pick, reject). Images
    the library holds no score for are passed over with the reason; a sidecar that is not valid XML, a
    read-only folder, a sidecar another program keeps changing: that file fails with the reason, left
    untouched, and the run goes on. Exit code 1 when any failed.

    \b
    Examples:
      artimuse xmp write ~/Photos/2026 --xmp-naming lightroom
      artimuse xmp write shoot/ --rating-mode percentiles --xmp-label pick --pick-at 90
      artimuse xmp write a.jpg --xmp-target embedded --json
      artimuse xmp write shoot/ --xmp-rating yours --pick-label Red
      artimuse xmp write shoot/ --xmp-stack-rest reject     (the rest of each stack as rejects)
    """
    from artimuse_core.xmp import XmpCounts, XmpOutcome, library_facts, library_folder_scores, write_many

    context = app()
    config = context.settings
    check_xmp(config)
    settings = config.xmp_settings()
    images, failed, passed = _images(paths)
    library = context.library()
    facts, no_score = library_facts(library, images, stack_rest=settings.stack_rest is not None)
    outcomes = [XmpOutcome(path, "failed", reason=message, error_kind="missing") for path, message in failed]
    with progress_bar(len(facts), "img", "writing XMP") as bar:
        outcomes += write_many(
            facts,
            settings,
            scope=config.xmp["rating_scope"],
            folder_scores=library_folder_scores(library),
            progress=bar.update,
        )
    outcomes += no_score + [XmpOutcome(path, "passed_over", reason=reason) for path, reason in passed]
    counts = XmpCounts()
    for outcome in outcomes:
        counts.add(outcome)
    if as_json:
        emit_json({"counts": counts.to_dict(), "files": [dict(o.to_dict(), image=o.image) for o in outcomes]})
    else:
        _print_outcomes(outcomes)
    click.echo(counts.summary(), err=True)
    if counts.failed:
        sys.exit(1)


def _print_outcomes(outcomes: list[Any]) -> None:
    rows = [
        {
            "image": display_path(o.image),
            "status": o.status,
            "rating": o.rating,
            "sidecar": display_path(o.sidecar) if o.sidecar else "",
            "label": o.label,
            "from": {"yours": "you", "model": "model"}.get(o.rating_from or "", ""),
            "note": flagify(o.reason)
            if o.reason
            else ("kept the rating set in your photo manager" if o.kept_user_rating else ""),
        }
        for o in outcomes
        if o.status != "passed_over"
    ]
    if rows:
        print_table(rows, ["image", "status", "rating", "from", "label", "sidecar", "note"])


@click.group()
def ratings() -> None:
    """The stars you already gave, from your photo manager's XMP, into the library (to fine-tune on).

    \b
    Examples:
      artimuse ratings import ~/Pictures/2026 --json
      artimuse finetune --from-db --rating-source xmp
    """


@ratings.command("import")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--prefer",
    type=click.Choice(["darktable", "lightroom"]),
    help="Which sidecar wins when an image has both IMG_1.CR2.xmp (darktable) and IMG_1.xmp (lightroom). "
    "Default: the xmp_naming setting.",
)
@click.option("--no-embedded", is_flag=True, help="Do not read the XMP embedded in the images.")
@click.option("--no-exif", is_flag=True, help="Do not read the images' EXIF Rating.")
@json_option
def ratings_import(paths: tuple[str, ...], prefer: str | None, no_embedded: bool, no_exif: bool, as_json: bool) -> None:
    """Read the stars of images (files or folders) and store them in the library as ratings with their source.

    Sources, first found wins: the sidecars (both naming styles; a RAW is rated by its sidecar), the XMP
    embedded in the image, its EXIF Rating. 1-5 stars become scores 10-90 (score = stars x 20 - 10). A
    reject (-1, or digiKam's reject flag) is stored as a reject: kept, never trained on (a cull is not a
    grade); a pick (the pick_label colour, digiKam's or Photo Mechanic's pick flag) as a pick. The model's
    stars that ArtiMuse wrote (`artimuse xmp write`) are passed over: training on them would teach the model
    its own guesses; your own decisions that it wrote come back as they were. Importing the same ratings
    again adds nothing (unchanged).

    \b
    Examples:
      artimuse ratings import ~/Pictures/darktable
      artimuse ratings import ~/Lightroom/2026 --prefer lightroom --json
      artimuse finetune --from-db --rating-source xmp --name my-stars
    """
    from artimuse_core.xmp import iter_ratings

    context = app()
    check_xmp(context.settings)
    images, failed, passed = _images(paths)
    library = context.library()
    prefer = prefer or context.settings.xmp["xmp_naming"]
    rows: list[dict[str, Any]] = [
        {"image": path, "status": "failed", "reason": message, "error_kind": "missing"} for path, message in failed
    ]
    counts: Counter[str] = Counter()
    failed_kinds: Counter[str] = Counter()
    with progress_bar(len(images), "img", "reading ratings") as bar:
        pick_label = context.settings.xmp_settings().pick_label
        for record in iter_ratings(
            images, prefer=prefer, embedded=not no_embedded, exif=not no_exif, pick_label=pick_label
        ):
            bar.update(1)
            row = record.to_dict()
            if record.status in ("rated", "rejected", "picked"):
                try:
                    _, added = library.import_rating(
                        record.image,
                        stars=record.stars if record.status == "rated" else None,
                        source=record.source,
                        rejected=record.status == "rejected",
                        picked=None if record.status == "rejected" else record.picked,
                    )
                except ImageError as exc:  # a rating of what the library cannot read would train noise
                    row.update(status="failed", reason=exc.reason, error_kind=exc.kind)
                except OSError as exc:
                    row.update(status="failed", reason=exc.strerror or str(exc), error_kind="unreadable")
                else:
                    row["stored"] = "imported" if added else "unchanged"
            rows.append(row)
    rows += [{"image": path, "status": "passed_over", "reason": reason} for path, reason in passed]
    for row in rows:
        if row["status"] == "failed":
            failed_kinds[row.get("error_kind") or "xmp"] += 1
        stored = row.get("stored")
        counts["rejected" if stored == "imported" and row["status"] == "rejected" else stored or row["status"]] += 1
    summary = {
        "imported": counts["imported"],
        "rejected": counts["rejected"],
        "unchanged": counts["unchanged"],
        "ours": counts["ours"],
        "unrated": counts["unrated"],
        "failed": dict(failed_kinds),
        "passed_over": counts["passed_over"],
    }
    if as_json:
        emit_json({"counts": summary, "files": [dict(r, image=display_path(r["image"])) for r in rows]})
    else:
        shown = [r for r in rows if r["status"] in ("failed", "rejected") or r.get("stored") == "imported"]
        if shown:
            print_table(
                [
                    {
                        "image": display_path(r["image"]),
                        "status": r.get("stored") or r["status"],
                        "stars": r.get("stars"),
                        "source": r.get("source") or "",
                        "note": r.get("reason") or "",
                    }
                    for r in shown
                ],
                ["image", "status", "stars", "source", "note"],
            )
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(failed_kinds.items()))
    click.echo(
        f"ratings: {summary['imported']} imported, {summary['rejected']} rejects stored, {summary['unchanged']} "
        f"unchanged, {summary['ours']} written by ArtiMuse (passed over), {summary['unrated']} unrated, "
        f"{sum(failed_kinds.values())} failed"
        + (f" ({kinds})" if kinds else "")
        + f", {summary['passed_over']} passed over (not images)",
        err=True,
    )
    if failed_kinds:
        sys.exit(1)


COMMANDS = [xmp, ratings]
__all__ = ["COMMANDS"]
