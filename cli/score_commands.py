"""`artimuse score`, `critique` and `eval`: the commands that run the model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from artimuse_core.categories import CATEGORIES, normalise_category
from artimuse_core.prompts import ATTRIBUTES

from .context import app
from .options import Failure, category_option, engine_options, flagify, json_option
from .output import FORMATS, emit_json, emit_jsonl, emit_rows, secho

SCORE_COLUMNS = ["path", "score", "std", "category", "status", "error"]


def progress_bar(total: int, unit: str, desc: str) -> Any:
    """A progress bar on stderr (only on a terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, disable=None, leave=False)


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
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people; json, jsonl (one object per image, printed as each is scored) or csv.",
)
@json_option
@click.option("--distribution", is_flag=True, help="Include the 101-way score distribution (json, jsonl, csv).")
@click.option("--probs", "distribution_alias", is_flag=True, hidden=True, help="Old name of --distribution.")
def score(
    paths: tuple[str, ...],
    category: str | None,
    save: bool,
    force: bool,
    fmt: str,
    as_json: bool,
    distribution: bool,
    distribution_alias: bool,
) -> None:
    """Score images: files, folders (walked recursively) or glob patterns.

    Results go into the library (`artimuse top`, `artimuse show`); a file whose content was already scored
    by the same model is not scored again (status `cached`) unless --force.

    Exit code 0 when every image scored, 1 when any failed (the failures are still listed, with their
    error, and recorded: `artimuse errors`), 2 when nothing could run (bad model, bad option).

    \b
    Examples:
      artimuse score a.jpg b.png
      artimuse score ~/Exports --category photography
      artimuse score 'shoots/**/*.jpg' --format jsonl | jq .score
      artimuse score big.tif --max-pixels 400000000 --model ./ArtiMuse_AVA --no-save
    """
    from artimuse_core.files import collect_images
    from artimuse_core.library.door import ingest

    fmt = "json" if as_json else fmt
    with_distribution = distribution or distribution_alias
    category = checked_category(category)
    context = app()
    collected = collect_images(list(paths))
    library = context.library() if save else None
    engine = context.engine()
    order = input_order([p for p, _, _ in collected.problems] + list(collected.files))
    rows: list[dict[str, Any]] = []
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
            if fmt == "jsonl":
                emit_jsonl(row)
            rows.append(row)
    rows.sort(key=lambda r: order.get(r["path"], len(order)))
    if fmt == "table":
        emit_rows(
            [dict(r, error=r["error"] and flagify(r["error"].removeprefix(f"{r['path']}: "))) for r in rows],
            fmt,
            SCORE_COLUMNS,
        )
    elif fmt != "jsonl":
        emit_rows(rows, fmt, SCORE_COLUMNS + ["model"] + (["distribution"] if with_distribution else []))
    _summary(rows)


def _summary(rows: list[dict[str, Any]]) -> None:
    """The failures on stderr, and exit code 1 when there are any (passed-over files are not failures)."""
    failed = sum(1 for r in rows if r["error"] and r["status"] != "passed_over")
    passed_over = sum(1 for r in rows if r["status"] == "passed_over")
    if passed_over:
        click.echo(f"{passed_over} of {len(rows)} file(s) passed over", err=True)
    if failed:
        click.echo(f"{failed} of {len(rows)} image(s) failed", err=True)
        sys.exit(1)


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
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["text", "json", "jsonl"]),
    default="text",
    show_default=True,
    help="text for people; json or jsonl (one object per critique) for scripts.",
)
@json_option
def critique(
    paths: tuple[str, ...], attributes: tuple[str, ...], save: bool, force: bool, fmt: str, as_json: bool
) -> None:
    from artimuse_core.files import collect_images
    from artimuse_core.library.door import ingest
    from artimuse_core.prompts import resolve_attribute

    fmt = "json" if as_json else fmt
    chosen = [resolve_attribute(a) for a in attributes] or list(ATTRIBUTES)
    context = app()
    collected = collect_images(list(paths))
    library = context.library() if save else None
    engine = context.engine()
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
                    "path": result.path,
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
            if row["error"]:
                secho(f"  error: {flagify(row['error'])}", fg="red")
            else:
                secho(f"  {row['attribute']}", underline=True)
                click.echo("  " + row["text"].replace("\n", "\n  "))
    else:
        emit_rows(rows, fmt, ["path", "attribute", "text", "error"])
    if any(r["error"] for r in rows):
        sys.exit(1)


@click.command("eval")
@click.argument("test_json", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--images",
    "images_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder the 'image' entries are relative to.",
)
@engine_options(exclude=("max_new_tokens",))
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write every prediction as JSON lines here.",
)
@json_option
def evaluate(test_json: str, images_dir: str, predictions: str | None, as_json: bool) -> None:
    """Benchmark a checkpoint on the authors' format: a JSON list of {"image": ..., "gt_score": ...}.

    Prints SRCC and PLCC between predictions and ground truth. Images that fail are reported and left
    out of the correlations; entries pointing outside --images are refused.

    \b
    Example:
      artimuse eval test.json --images ./AVA/images --model ArtiMuse_AVA
    """
    from artimuse_core.files import inside
    from artimuse_core.metrics import correlation_report

    try:
        entries = json.loads(Path(test_json).read_text(encoding="utf-8"))
        pairs = [(e["image"], float(e["gt_score"])) for e in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise Failure(f'{test_json}: expected a JSON list of {{"image", "gt_score"}} ({exc})') from exc
    root = Path(images_dir)
    paths, refused = [], []
    for name, _ in pairs:
        path = root / name
        (paths if inside(path, root) else refused).append(path)
    if refused:
        raise Failure(f"{refused[0]}: outside {root}; refusing to follow it")
    engine = app().engine()
    with progress_bar(len(paths), "img", "evaluating") as bar:
        results = engine.score(paths, progress=bar.update)
    if predictions:
        with open(predictions, "w", encoding="utf-8") as handle:
            for (name, gt), result in zip(pairs, results):
                handle.write(json.dumps({"image": name, "gt_score": gt, **result.to_dict()}) + "\n")
    report = correlation_report([r.score for r in results], [gt for _, gt in pairs])
    report["model"] = engine.provenance.model
    report["errors"] = [r.error for r in results if r.error]
    if as_json:
        emit_json(report)
    else:
        click.echo(
            f"{report['model']}: SRCC {report['srcc']:.4f}  PLCC {report['plcc']:.4f}  "
            f"on {report['n']} images ({report['failed']} failed)"
        )
        for error in report["errors"]:
            click.echo(f"  error: {error}", err=True)
    if report["failed"]:
        sys.exit(1)


COMMANDS = [score, critique, evaluate]
