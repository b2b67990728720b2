"""`artimuse eval`: benchmark a checkpoint on the authors' test format (SRCC, PLCC)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .context import app
from .options import Failure, engine_options, json_option
from .output import emit_json, progress_bar


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
    from artimuse_core import correlation_report, inside

    try:
        entries = json.loads(Path(test_json).read_text(encoding="utf-8"))
        pairs = [(e["image"], float(e["gt_score"])) for e in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise Failure(f'{test_json}: expected a JSON list of {{"image", "gt_score"}} ({exc})') from exc
    root = Path(images_dir)
    paths: list[Path] = []
    refused: list[Path] = []
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


COMMANDS = [evaluate]
