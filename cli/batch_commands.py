"""`artimuse batch` (score many images on Ray Data into Parquet) and `artimuse library import` (those
results into the library). Both are thin: the work is in the ``artimuse_batch`` plugin, imported only when
a command runs, and Ray only by the batch run itself (the optional ``ray`` extra)."""

from __future__ import annotations

import sys
from collections import Counter

import click

from artimuse_core import ATTRIBUTES, CATEGORIES

from .context import app, create_engine
from .extras import batch_plugin
from .options import category_option, engine_options, json_option
from .output import emit_json

BATCH_HELP = """Score many images on Ray Data (one machine, a multi-GPU box or a cluster) into Parquet.

INPUT: folders (walked recursively), glob patterns, files, fsspec URIs (s3://, gs://... with their fsspec
package installed) or manifests (.parquet, .csv, .jsonl) with a path or uri column. Every file is accounted
for as `artimuse score` does: scored, failed with its error, or passed over with the reason.

The output is a folder of Parquet parts (read it with pandas, DuckDB, Polars or Ray as one table): path,
content hash, score, std, the 101-way distribution, category, critiques, provenance, error. Running again
with the same --output skips inputs it already holds for these weights (failed ones too, unless
--retry-failed): a killed job resumes, losing at most the batches in flight. One run writes an output at a
time (a lease in the folder; a second run is refused, a dead run's lease is taken over). SIGINT/SIGTERM
write the finished rows and stop the workers. The model, dtype, batch size... are the same settings as
`artimuse score`.

Which Ray: --ray, else the RAY_ADDRESS environment variable, else a private Ray on this machine. For a
cluster with token authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH).

\b
Examples:
  artimuse batch ~/renders --output renders.parquet
  artimuse batch 's3://bucket/shots/**/*.png' -o shots.parquet --ray auto --actors 8 --gpus-per-actor 1
  artimuse batch /shared/shots -o /shared/shots.parquet --ray 10.0.0.5:6379 --retry-failed
  artimuse batch manifest.csv -o out.parquet --ray ray://head:10001 --critique
  artimuse library import out.parquet
"""


@click.command(help=BATCH_HELP, short_help="Score many images on Ray Data into Parquet (resumable).")
@click.argument("targets", metavar="INPUT...", nargs=-1, required=True)
@click.option("--output", "-o", required=True, help="The results: a folder of Parquet parts (e.g. results.parquet).")
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS",
    help="local: a private Ray on this machine; auto: the cluster this machine joined (ray start); HOST:PORT: "
    "a cluster's GCS (6379); ray://HOST:10001: Ray Client. Default: RAY_ADDRESS if set, else local.",
)
@click.option("--cpus", type=click.IntRange(1), help="CPUs of a private Ray instance (default: all).")
@click.option("--actors", type=click.IntRange(1), default=1, show_default=True, help="Engines scoring in parallel.")
@click.option(
    "--gpus-per-actor",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="GPUs each engine reserves (1: one engine per GPU; 0: CPU).",
)
@click.option(
    "--part-seconds",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="Write finished rows to the output at least this often; a killed job loses at most these seconds "
    "of finished rows plus the batches in flight.",
)
@click.option(
    "--retry-failed", is_flag=True, help="Score again the inputs whose rows in --output failed (default: keep them)."
)
@click.option("--manifest-column", help="The manifests' column holding paths or URIs (default: path, uri, url...).")
@category_option(f"Category of every image ({', '.join(CATEGORIES)}).")
@click.option(
    "--predict-category/--no-predict-category",
    default=True,
    show_default=True,
    help="Ask the model for each image's category (as `artimuse score` does when no --category is given).",
)
@click.option("--critique", is_flag=True, help="Also write critiques (all eight attributes, or --attribute).")
@click.option(
    "--attribute", "-a", "attributes", multiple=True, help="Attribute to critique (repeatable; implies --critique)."
)
@engine_options()
@json_option
def batch(
    targets: tuple[str, ...],
    output: str,
    ray_address: str,
    cpus: int | None,
    actors: int,
    gpus_per_actor: float,
    part_seconds: float,
    retry_failed: bool,
    manifest_column: str | None,
    category: str | None,
    predict_category: bool,
    critique: bool,
    attributes: tuple[str, ...],
    as_json: bool,
) -> None:
    from artimuse_core import normalise_category, resolve_attribute

    inputs_module, pipeline = batch_plugin()
    chosen = [resolve_attribute(a) for a in attributes] or (list(ATTRIBUTES) if critique else [])
    fixed = normalise_category(category) if category else None
    context = app()
    spec = context.settings.spec
    factory = None if context.engine_factory is create_engine else context.engine_factory
    model_key = None
    if factory is not None:  # an injected engine (tests): its own identity, no checkpoint to read
        model_key = factory(spec).provenance.fingerprint
    inputs = inputs_module.collect_inputs(list(targets), manifest_column)
    try:
        summary = pipeline.run_batch(
            inputs,
            output,
            spec,
            ray_address=ray_address,
            cpus=cpus,
            actors=actors,
            gpus_per_actor=gpus_per_actor,
            predict_category=predict_category,
            category=fixed,
            critique=chosen,
            model_key=model_key,
            engine_factory=factory,
            part_seconds=part_seconds,
            retry_failed=retry_failed,
            notify=lambda message: click.echo(message, err=True),
        )
    except pipeline.Interrupted as stop:
        if as_json:
            emit_json({**stop.summary.to_dict(), "interrupted": stop.signum})
        click.echo(f"{stop}: {stop.summary.line()}; run the same command again to resume", err=True)
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:  # before the run drove Ray (joining it): nothing was scored
        click.echo("interrupted before scoring began; run the same command again to resume", err=True)
        sys.exit(130)
    if as_json:
        emit_json(summary.to_dict())
    where = f" (the failed rows: status failed in {output})" if summary.statuses["failed"] else ""
    click.echo(summary.line() + where, err=True)  # one summary line per run
    if summary.statuses["failed"]:
        sys.exit(1)


@click.group()
def library() -> None:
    """Bring results made elsewhere into the library.

    \b
    Example:
      artimuse library import results.parquet
    """


@library.command("import")
@click.argument("output", type=click.Path(exists=True))  # a missing path is an error, never "0 imported"
@category_option(f"Category of every imported image ({', '.join(CATEGORIES)}). Default: the library's rule.")
@json_option
def import_(output: str, category: str | None, as_json: bool) -> None:
    """Import `artimuse batch` results (a folder of Parquet parts) into the library.

    The same rules as `artimuse score`: a score already in the library for the same content and weights is
    not added again (cached), the category follows the config's folders or the library's, failed rows are
    recorded as errors (`artimuse errors`). A file changed since it was scored is refused (changed).

    \b
    Example:
      artimuse library import results.parquet
    """
    from artimuse_batch.importing import import_results

    statuses: Counter[str] = Counter()
    for result in import_results(app().library(), output, category=category):
        statuses[result.error_kind if result.error_kind == "changed" else result.status] += 1
    counts = {k: statuses[k] for k in ("scored", "cached", "failed", "passed_over", "gone", "changed")}
    if as_json:
        emit_json({"imported": counts["scored"], **counts})
    else:
        click.echo(
            f"{counts['scored']} imported, {counts['cached']} already in the library, {counts['failed']} failed "
            f"recorded, {counts['passed_over']} passed over, {counts['changed']} changed since scored",
            err=True,
        )


COMMANDS = [batch, library]
