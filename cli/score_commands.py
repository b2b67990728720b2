"""`artimuse score` and `critique`: the commands that run the model on files (`eval`: ``eval_commands``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from artimuse_core import ATTRIBUTES, CATEGORIES, PRIMARY_DIMENSION, ScoreResult, display_path, normalise_category
from artimuse_core.library import NOT_SAVED

from .context import app
from .options import (
    category_option,
    check_xmp,
    dimension_option,
    engine_options,
    flagify,
    format_option,
    json_option,
    xmp_options,
)
from .output import FORMATS, emit_jsonl, emit_rows, lossless, path_shown, progress_bar, secho

SCORE_COLUMNS = ["path", "score", "std", "category", "status", "error"]


def dimension_columns(rows: list[dict[str, Any]], chosen: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows and table columns: ArtiMuse's single score as ``score std``; several dimensions (UniPercept) or a
    chosen one as one column each (``iaa iqa ista``)."""
    shown = list(chosen) or list(dict.fromkeys(k for r in rows for k in (r.get("scores") or {})))
    if not chosen and shown in ([], [PRIMARY_DIMENSION]):
        return rows, SCORE_COLUMNS
    flat = [dict(r, **{d: (r.get("scores") or {}).get(d) for d in shown}) for r in rows]
    return flat, ["path", *shown, "category", "status", "error"]


def input_order(paths: list[Any]) -> dict[str, int]:
    """Position of each input, by the path as given and as the library stores it (absolute)."""
    order: dict[str, int] = {}
    for i, path in enumerate(paths):
        order.setdefault(str(path), i)
        order.setdefault(str(Path(path).expanduser().absolute()), i)
    return order


def checked_category(category: str | None) -> str | None:
    return normalise_category(category) if category else None


@click.command()
@click.argument("paths", nargs=-1, required=True)
@engine_options(exclude=("max_new_tokens",))
@category_option(
    f"Category of these images ({', '.join(CATEGORIES)}). Default: the config's folder setting, "
    "else what the library knows, else the model predicts it."
)
@click.option("--save/--no-save", default=True, show_default=True, help="Record the scores in the library.")
@click.option("--force", is_flag=True, help="Score again even when this content was scored by this model.")
@format_option(FORMATS, "table for people; json, jsonl (one object per image, printed as each is scored) or csv.")
@json_option
@click.option("--distribution", is_flag=True, help="Include the 101-way score distribution (json, jsonl, csv).")
@click.option("--probs", "distribution_alias", is_flag=True, hidden=True, help="Old name of --distribution.")
@click.option(
    "--xmp",
    "write_xmp",
    is_flag=True,
    help="Also write each score into the image's XMP sidecar (see `artimuse xmp write --help`; needs the xmp extra).",
)
@xmp_options
@dimension_option(
    "Score column(s) to show, repeatable; default: every dimension the model scores (json rows hold them all "
    "under 'scores')",
    multiple=True,
)
def score(
    paths: tuple[str, ...],
    category: str | None,
    save: bool,
    force: bool,
    fmt: str,
    as_json: bool,
    distribution: bool,
    distribution_alias: bool,
    write_xmp: bool,
    dimensions: tuple[str, ...],
) -> None:
    """Score images: files, folders (walked recursively) or glob patterns.

    ArtiMuse models give one aesthetic score; UniPercept models (--model UniPercept or a folder, --family)
    give three, shown as columns: iaa (aesthetics), iqa (technical quality) and ista (structure and texture
    richness); --dimension picks the columns.

    Results go into the library (`artimuse top`, `artimuse show`); a file whose content was already scored
    by the same model is not scored again (status `cached`) unless --force.

    Every file the walk sees is accounted for: scored, cached, failed (with its error, recorded:
    `artimuse errors`) or passed over with the reason (RAW without a decoder, .txt, hidden files...). A
    summary line on stderr counts them ("12 scored, 3 cached, 2 failed, 40 passed over: 38 RAW, 2 .txt");
    json, jsonl and csv also list passed-over files as rows (status passed_over, the reason in error).
    Nothing to score: the summary says so and no model is loaded. Rows print `path` readable (a byte that is
    not UTF-8 as \\xNN) and `path_bytes`, the exact name in hex for scripts; csv cells that a spreadsheet
    would run as a formula (= + - @) start with a ' (OWASP).

    --xmp also writes each score into the image's XMP sidecar after the library recorded it (settings as
    for `artimuse xmp write`); a sidecar that cannot be written is that file's error and the run goes on.

    Exit code 0 when every image scored (or was passed over), 1 when any failed (still listed, with their
    error; or its XMP could not be written), 2 when nothing could run (bad model, bad option).

    \b
    Examples:
      artimuse score a.jpg b.png
      artimuse score ~/Exports --category photography
      artimuse score 'shoots/**/*.jpg' --format jsonl | jq .score
      artimuse score big.tif --max-pixels 400000000 --model ./ArtiMuse_AVA --no-save
      artimuse score ~/Shoot --model ./UniPercept --dimension iqa
    """
    from artimuse_core import collect_images, run_summary
    from artimuse_core.library import ingest

    fmt = "json" if as_json else fmt
    with_distribution = distribution or distribution_alias
    category = checked_category(category)
    context = app()
    collected = collect_images(list(paths))
    passed_over = [passed_over_row(p) for p in collected.passed_over]
    rows: list[dict[str, Any]] = []
    results: list[ScoreResult] = []
    library = None
    if write_xmp:
        check_xmp(context.settings)  # a missing extra or settings that do not fit: said before any model loads
    engine = None
    if collected.files or collected.problems:
        library = context.library() if save else None
        # Built only when a file needs the model: a folder already in the library loads none.
        engine = (context.lazy_engine() if save else context.engine()) if collected.files else None
        for dimension in dimensions:
            if engine is not None:
                engine.family.dimension(dimension)  # InvalidValue: this model does not score it
        order = input_order([p for p, _, _ in collected.problems] + list(collected.files))
        with progress_bar(len(collected.files), "img", "scoring") as bar:
            for result in ingest(
                engine,
                library,
                collected.files,
                category=category,
                force=force,
                problems=collected.problems,
                progress=bar.update,
            ):
                row = result.to_dict(distribution=with_distribution)
                results.append(result)
                if fmt == "jsonl":
                    emit_jsonl(printable(row))
                rows.append(row)
        rows.sort(key=lambda r: order.get(r["path"], len(order)))
    if fmt == "jsonl":
        for row in passed_over:
            emit_jsonl(printable(row))
    elif fmt == "table":
        shown = [printable(r) for r in rows if r["status"] != "passed_over"]  # the summary counts those
        if shown:
            table, columns = dimension_columns(shown, dimensions)
            where = path_shown(paths)  # relative to the current folder when the user named relative paths
            emit_rows(
                [
                    dict(
                        r,
                        path=where(r["path"]),
                        error=r["error"] and flagify(r["error"].removeprefix(f"{r['path']}: ")),
                    )
                    for r in table
                ],
                fmt,
                columns,
            )
    else:
        table, columns = dimension_columns([printable(r) for r in rows + passed_over], dimensions)
        if columns is SCORE_COLUMNS or fmt == "json":
            table, columns = [printable(r) for r in rows + passed_over], list(SCORE_COLUMNS)
        columns += ["error_kind", "model", "path_bytes"] + (["distribution"] if with_distribution else [])
        emit_rows(table, fmt, columns)
    unsaved = []
    for row in rows:
        for warning in row.get("warnings") or ():
            if warning.startswith(NOT_SAVED):
                unsaved.append(warning)
                continue
            click.echo(f"warning: {display_path(row['path'])}: {flagify(warning)}", err=True)
    click.echo(run_summary(collected, rows), err=True)
    if rows and all(r["status"] == "cached" for r in rows if r["status"] != "passed_over"):
        loaded = getattr(engine, "built", True)
        click.echo(
            "nothing needed scoring: every image is in the library already" + ("" if loaded else " (no model loaded)"),
            err=True,
        )
    xmp_failed = 0
    if write_xmp:
        from artimuse_core.xmp import write_after_scoring

        counts = write_after_scoring(library, results, context.settings, lambda m: click.echo(m, err=True))
        click.echo(counts.summary(), err=True)
        xmp_failed = sum(counts.failed.values())
    failed = sum(1 for r in rows if r["status"] == "failed")  # counted in the summary line above
    if unsaved:
        click.echo(f"{len(unsaved)} result(s) shown above were NOT saved: {unsaved[-1]}", err=True)
        sys.exit(3)
    if failed or xmp_failed:
        sys.exit(1)


def passed_over_row(item: Any) -> dict[str, Any]:
    """A file the walk passed over (``files.PassedOverFile``) as a result row: status ``passed_over``, the
    reason in ``error``, its kind in ``error_kind``."""
    result = ScoreResult(item.path, error=item.message, error_kind=item.kind, status="passed_over")
    return result.to_dict()


def printable(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its path as a person can read it (``paths.display_path``: non-UTF-8 bytes as \\xNN) and
    its exact bytes for scripts (``path_bytes``, hex: ``output.lossless``)."""
    return lossless(row)


CRITIQUE_HELP = (
    """Written critiques of images, one per attribute, decoded greedily.

    Critiques (and the score) are recorded in the library unless --no-save; an image already critiqued on
    an attribute by this model shows the stored text unless --force.

    \b
    Attributes: """
    + "; ".join(ATTRIBUTES)
    + """

    \b
    Examples:
      artimuse critique photo.jpg
      artimuse critique photo.jpg -a composition -a "technical" --format json
    """
)


@click.command(help=CRITIQUE_HELP, short_help="Written critiques of images, one per attribute.")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--attribute",
    "-a",
    "attributes",
    multiple=True,
    help="Attribute to critique (repeatable; a unique prefix is enough). Default: all eight.",
)
@engine_options()
@click.option(
    "--save/--no-save", default=True, show_default=True, help="Record the critiques (and the score) in the library."
)
@click.option("--force", is_flag=True, help="Score and critique again even when the library has them.")
@format_option(["text", "json", "jsonl"], "text for people; json or jsonl (one object per critique) for scripts.")
@json_option
def critique(
    paths: tuple[str, ...], attributes: tuple[str, ...], save: bool, force: bool, fmt: str, as_json: bool
) -> None:
    from artimuse_core import collect_images, resolve_attribute, run_summary
    from artimuse_core.library import ingest

    fmt = "json" if as_json else fmt
    chosen = [resolve_attribute(a) for a in attributes] or list(ATTRIBUTES)
    context = app()
    collected = collect_images(list(paths))
    library = context.library() if save else None
    # Built only when a file needs the model: critiques already in the library load none.
    engine = (context.lazy_engine() if save else context.engine()) if collected.files else None
    order = input_order([p for p, _, _ in collected.problems] + list(collected.files))
    rows: list[dict[str, Any]] = []
    with progress_bar(len(collected.files), "img", "critiquing") as bar:
        results = list(
            ingest(
                engine,
                library,
                collected.files,
                force=force,
                critique=chosen,
                problems=collected.problems,
                progress=bar.update,
            )
        )
    results.sort(key=lambda r: order.get(r.path, len(order)))
    for result in results:
        for attribute in chosen:
            text = result.critiques.get(attribute)
            error = None if text is not None else (result.error or "no critique")
            rows.append(
                {
                    "path": display_path(result.path),
                    "attribute": attribute,
                    "text": text,
                    "score": result.score,
                    "status": result.status,
                    "error": error,
                    "error_kind": result.error_kind if error else None,
                }
            )
    if fmt == "text":
        current = None
        for row in rows:
            if row["path"] != current:
                current = row["path"]
                secho(f"\n{current}", bold=True)
                shown_error = None
            if row["error"] and row["error"] == shown_error:
                continue  # the file's own error (missing, corrupt...) is said once, not once per attribute
            if row["error"]:
                shown_error = row["error"]
                secho(f"  error: {flagify(row['error'])}", fg="red")
            else:
                secho(f"  {row['attribute']}", underline=True)
                click.echo("  " + row["text"].replace("\n", "\n  "))
    else:
        emit_rows(rows, fmt, ["path", "attribute", "text", "error"])
    click.echo(run_summary(collected, [r.to_dict() for r in results]), err=True)
    if any(r["error"] and r["status"] != "passed_over" for r in rows):
        sys.exit(1)


COMMANDS = [score, critique]
