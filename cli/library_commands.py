"""Library commands: top, history, show, search, stats, export, errors, rate, categorize."""

from __future__ import annotations

import csv
import json
import sys

import click

from artimuse_core.categories import CATEGORIES
from artimuse_core.library import STAR_SCORES, Library, parse_since

from .main import cli, friendly_errors
from .output import emit_json, flat, table

CATEGORY_HELP = f"One of: {', '.join(CATEGORIES)} (full names like 'Painting & Calligraphy' work too)."


def _library(config) -> Library:
    return Library(config=config)


def _since(value):
    try:
        return parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since")


def _checked(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command()
@click.option("--category", "-c", help=CATEGORY_HELP)
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(1))
@click.option("--since", help="Only scores made since: 30m, 12h, 7d, 2w or a date.")
@click.option("--min-score", type=float, help="Only scores at least this high.")
@click.option("--model", "-m", help="Only scores by this model name.")
@click.option("--folder", type=click.Path(file_okay=False), help="Only images under this folder.")
@click.option("--rank", type=click.Choice(["mean", "lower"]), default="mean", show_default=True,
              help="mean: the score; lower: score - k*std, which favours images the model is sure about.")
@click.option("-k", "k", default=1.0, show_default=True, help="How many std to subtract with --rank lower.")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
@click.pass_obj
def top(config, category, limit, since, min_score, model, folder, rank, k, as_json):
    """The best images in the library, ranked.

    \b
    Examples:
      artimuse top --category photography
      artimuse top -c aigc --since 7d --limit 50 --rank lower
      artimuse top --folder ~/Exports/wedding --json
    """
    rows = _checked(_library(config).top, category=category, limit=limit, since=_since(since),
                    min_score=min_score, model=model, folder=folder, rank=rank, k=k)
    if as_json:
        emit_json(rows)
        return
    for i, row in enumerate(rows, 1):
        row["rank"] = i
        if row["category_source"] == "predicted":
            row["category"] = f"{row['category']}?"
    columns = ["rank", "score", "std"] + (["lower_bound"] if rank == "lower" else []) + ["category", "model", "path"]
    click.echo(table(rows, columns) if rows else "no matching images in the library")
    if any(r["category_source"] == "predicted" for r in rows):
        click.echo("(? = category predicted by the model; set it with `artimuse categorize`)", err=True)


@cli.command()
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(1))
@click.option("--since", help="30m, 12h, 7d, 2w or a date.")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
@click.pass_obj
def history(config, limit, since, as_json):
    """The most recent scores, newest first."""
    rows = _library(config).history(limit=limit, since=_since(since))
    if as_json:
        emit_json(rows)
    else:
        click.echo(table(rows, ["created_at", "score", "std", "category", "model", "path"]) if rows
                   else "the library is empty")


def histogram(probs: list[float], width: int = 40) -> str:
    """The 101-way distribution in ten bins of ten points (the last bin holds 90-100)."""
    bins = [sum(probs[i * 10:(i + 1) * 10 + (1 if i == 9 else 0)]) for i in range(10)]
    peak = max(bins) or 1.0
    lines = []
    for i, mass in enumerate(bins):
        label = f"{i * 10:>3}-{i * 10 + 9 + (1 if i == 9 else 0):<3}"
        lines.append(f"  {label} {'█' * round(width * mass / peak):<{width}} {100 * mass:5.1f}%")
    return "\n".join(lines)


@cli.command()
@click.argument("image", type=click.Path())
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
@click.pass_obj
def show(config, image, as_json):
    """Everything the library knows about one image: score, distribution, critiques, ratings, provenance."""
    data = _library(config).show(image)
    if as_json:
        emit_json(data)
        return
    click.secho(data["path"], bold=True)
    size = f"{data['width']}x{data['height']}" if data["width"] else "size unknown"
    category = data["category"] or "uncategorised"
    if data["category_source"] == "predicted" and data["category_confidence"] is not None:
        category += f" (predicted, p={data['category_confidence']:.2f})"
    elif data["category_source"]:
        category += f" (from {data['category_source']})"
    click.echo(f"  {size}, {category}{', MISSING on disk' if data['missing'] else ''}")
    for i, evaluation in enumerate(data["evaluations"]):
        if i and not evaluation["current"]:
            continue
        click.echo(f"\n  score {evaluation['score']:.2f} ± {evaluation['std']:.2f}   {evaluation['model']}"
                   f"{' + ' + evaluation['adapter'] if evaluation['adapter'] else ''}   {evaluation['created_at']}")
        click.echo(histogram(evaluation["distribution"]))
        click.echo(f"  provenance: fingerprint {evaluation['fingerprint']}, prompt {evaluation['prompt_hash']}, "
                   f"{evaluation['device']} {evaluation['dtype']}, engine {evaluation['engine_version']}")
        for c in evaluation["critiques"]:
            click.secho(f"\n  {c['attribute']}", underline=True)
            click.echo("  " + c["text"].replace("\n", "\n  "))
    older = sum(1 for e in data["evaluations"] if not e["current"])
    if older:
        click.echo(f"\n  ({older} older evaluation(s); --json shows them)")
    if data["ratings"]:
        click.echo("\n  your ratings: " + ", ".join(
            f"{r['score']:.0f}" + (f" ({r['stars']:g}★)" if r["stars"] else "") for r in data["ratings"]))


@cli.command()
@click.argument("text")
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
@click.pass_obj
def search(config, text, limit, as_json):
    """Search the critiques' text (all words must appear).

    \b
    Example:
      artimuse search "leading lines"
    """
    rows = _library(config).search(text, limit=limit)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.secho(f"{row['path']}  ({row['score']:.1f}, {row['attribute']})", bold=True)
        click.echo("  " + row["text"][:300].replace("\n", " "))
    if not rows:
        click.echo("no critique matches")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
@click.pass_obj
def stats(config, as_json):
    """Counts, and score percentiles per category (current scores)."""
    data = _library(config).stats()
    if as_json:
        emit_json(data)
        return
    click.echo("  ".join(f"{k}: {v}" for k, v in data["counts"].items()))
    rows = [{"category": c, **v} for c, v in data["categories"].items()]
    if rows:
        click.echo(table(rows, ["category", "count", "mean", "p10", "p25", "p50", "p75", "p90"]))


@cli.command()
@click.option("--format", "-f", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl", show_default=True)
@click.option("--all", "everything", is_flag=True, help="Every evaluation, not only the current ones.")
@click.option("--distribution", is_flag=True, help="Include the 101 probabilities (csv: as a JSON list).")
@friendly_errors
@click.pass_obj
def export(config, fmt, everything, distribution):
    """Write the library's scores to stdout as CSV or JSON lines.

    \b
    Example:
      artimuse export --format csv > library.csv
    """
    columns = ["path", "score", "std", "category", "model", "fingerprint", "adapter", "created_at", "current",
               "prompt_hash", "engine_version"] + (["distribution"] if distribution else [])
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    if fmt == "csv":
        writer.writeheader()
    for row in _library(config).export(current_only=not everything):
        if not distribution:
            row.pop("distribution")
        if fmt == "csv":
            writer.writerow({k: flat(v) for k, v in row.items()})
        else:
            click.echo(json.dumps(row, ensure_ascii=False))


@cli.command()
@click.option("--limit", "-n", default=50, show_default=True, type=click.IntRange(1))
@click.option("--since", help="30m, 12h, 7d, 2w or a date.")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
@click.pass_obj
def errors(config, limit, since, as_json):
    """Files that could not be scored, with the reason, newest first."""
    rows = _library(config).errors(limit=limit, since=_since(since))
    if as_json:
        emit_json(rows)
    else:
        click.echo(table(rows, ["created_at", "kind", "message"]) if rows else "no errors recorded")


RATE_HELP = """Record your own rating of an image (what `artimuse finetune --from-db` learns from).

    \b
    Stars map to scores: """ + STAR_SCORES + """.

    \b
    Examples:
      artimuse rate photo.jpg --stars 4
      artimuse rate photo.jpg --score 85
    """


@cli.command(help=RATE_HELP, short_help="Record your own rating of an image (stars or a score).")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--stars", type=click.FloatRange(0.5, 5), help="0.5 to 5 stars. " + STAR_SCORES + ".")
@click.option("--score", type=click.FloatRange(0, 100), help="Your own score, 0 to 100.")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
@click.pass_obj
def rate(config, image, stars, score, as_json):
    if (stars is None) == (score is None):
        raise click.UsageError("give exactly one of --stars or --score")
    row = _checked(_library(config).rate, image, stars=stars, score=score)
    if as_json:
        emit_json(row)
    else:
        click.echo(f"rated {row['path']}: {row['score']:g}" + (f" ({stars:g}★)" if stars else ""))


@cli.command()
@click.argument("image", type=click.Path())
@click.argument("category")
@friendly_errors
@click.pass_obj
def categorize(config, image, category):
    """Set an image's category by hand (it then wins over the model's prediction)."""
    _checked(_library(config).set_category, image, category)
    click.echo(f"{image}: {category}")
