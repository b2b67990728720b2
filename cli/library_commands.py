"""Library commands: top, history, show, search, stats, errors, categorize (export and rate have their own
modules). None of them loads a model (or imports torch): they read the library database."""

from __future__ import annotations

from typing import Any

import click

from artimuse_core import CATEGORIES, PRIMARY_DIMENSION
from artimuse_core.library import SEARCH_SYNTAX

from .context import app
from .options import (
    category_option,
    decision_option,
    decision_text,
    dimension_option,
    json_option,
    limit_option,
    since_option,
)
from .output import emit_json, path_shown, print_table, printable, secho

CATEGORY_HELP = f"Only this category: {', '.join(CATEGORIES)} (full names like 'Painting & Calligraphy' work too)."


@click.command()
@dimension_option("Rank by this score", default=PRIMARY_DIMENSION)
@category_option(CATEGORY_HELP)
@limit_option(20)
@since_option
@click.option("--min-score", type=float, help="Only scores at least this high (0-100).")
@click.option("--model", "-m", help="Only scores by this model name.")
@click.option("--adapter", help="Only scores with this fine-tuned adapter ('none': the base model's only).")
@click.option("--folder", type=click.Path(file_okay=False), help="Only images under this folder.")
@click.option(
    "--rank",
    type=click.Choice(["mean", "lower"]),
    default="mean",
    show_default=True,
    help="mean: the score; lower: score - k*std, which favours images the model is sure about.",
)
@click.option("-k", "k", default=1.0, show_default=True, help="How many std to subtract with --rank lower.")
@decision_option
@click.option(
    "--paths", "only_paths", is_flag=True, help="Print only the paths, one per line (for `artimuse rate --from-stdin`)."
)
@click.option(
    "--best-of-stack",
    is_flag=True,
    help="One picture per stack of bursts and near-duplicates: its best (see `artimuse stacks`).",
)
@click.option(
    "--percentile",
    "-p",
    "with_percentile",
    is_flag=True,
    help="Add each image's percentile: the share of the library's other scores by the same model that it "
    "beats, readable without knowing that checkpoint's scale.",
)
@json_option
def top(
    dimension: str,
    category: str | None,
    limit: int,
    since: str | None,
    min_score: float | None,
    model: str | None,
    adapter: str | None,
    folder: str | None,
    rank: str,
    k: float,
    decision: str | None,
    only_paths: bool,
    best_of_stack: bool,
    with_percentile: bool,
    as_json: bool,
) -> None:
    """The best images in the library, ranked, with your own decision on each (stars, pick, reject).

    Each checkpoint uses 0-100 in its own way (one trained on AVA crowds its scores into a narrow middle
    band), so --percentile adds where each image stands among your library's scores by the same model:
    95 means it beats 95 % of them.

    \b
    Examples:
      artimuse top --category photography
      artimuse top -c aigc --since 7d --limit 50 --rank lower
      artimuse top --percentile --limit 10
      artimuse top --folder ~/Exports/wedding --json
      artimuse top --dimension iqa      (UniPercept: the technically best)
      artimuse top --folder shoot --unrated --paths | artimuse rate --from-stdin --stars 3
      artimuse top --picked
      artimuse top --folder shoot --best-of-stack --limit 10
    """
    library = app().library()
    hidden: set[str] = set()
    if best_of_stack:  # the rest of each stack leaves the ranking; ask for enough rows to fill the limit
        found = library.stacks([folder] if folder else [])
        hidden = {m.path for s in found for m in s.rest}
    records = library.top(
        dimension=dimension,
        category=category,
        since=_since(since),
        min_score=min_score,
        model=model,
        adapter=adapter,
        folder=folder,
        rank=rank,
        k=k,
        rating=decision,
        limit=limit + len(hidden),
    )
    records = [r for r in records if r.path not in hidden][:limit]
    if only_paths:
        for record in records:
            click.echo(printable(record.path))
        return
    ranks = (
        library.percentile_ranks([(r.fingerprint, r.dimension, r.score) for r in records]) if with_percentile else []
    )
    if as_json:
        emit_json([{**r.to_dict(), "percentile": p} for r, p in zip(records, ranks)] if with_percentile else records)
        return
    rows = []
    where = path_shown([folder] if folder else ["/"])  # relative when the folder was named relative
    for i, record in enumerate(records, 1):
        row = record.to_dict()
        row["rank"] = i
        if with_percentile:
            row["percentile"] = "-" if ranks[i - 1] is None else f"{ranks[i - 1]:.0f}"
        row[dimension] = record.score
        if record.category_source == "predicted":
            row["category"] = f"{record.category}?"
        row["model"] = labelled_model(record)
        row["path"] = where(record.path)
        row["yours"] = decision_text(record)
        rows.append(row)
    columns = ["rank", "score" if dimension == PRIMARY_DIMENSION else dimension, "std"] + (
        ["lower_bound"] if rank == "lower" else []
    )
    columns += (["percentile"] if with_percentile else []) + ["yours", "category", "model", "path"]
    if rows:
        print_table(rows, columns)
    else:
        click.echo("no matching images in the library")
    if any(r.category_source == "predicted" for r in records):
        click.echo("(? = category predicted by the model; set it with `artimuse categorize`)", err=True)


def labelled_model(record: Any) -> str:
    """The weights that made a score: the model name, plus ``+ adapter`` for a fine-tuned adapter."""
    return f"{record.model} + {record.adapter}" if record.adapter else record.model


def _since(value: str | None) -> Any:
    from artimuse_core.library import parse_since

    return parse_since(value)


@click.command()
@limit_option(20)
@since_option
@json_option
def history(limit: int, since: str | None, as_json: bool) -> None:
    """The most recent scores, newest first.

    \b
    Example:
      artimuse history --since 1d
    """
    records = app().library().history(limit=limit, since=_since(since))
    if as_json:
        emit_json(records)
    elif records:
        rows = [dict(r.to_dict(), model=labelled_model(r)) for r in records]
        print_table(rows, ["created_at", "score", "std", "category", "model", "path"])
    else:
        click.echo("the library is empty")


def histogram(distribution: list[float], width: int = 40) -> str:
    """The 101-way distribution in ten bins of ten points (the last bin holds 90-100)."""
    bins = [sum(distribution[i * 10 : (i + 1) * 10 + (1 if i == 9 else 0)]) for i in range(10)]
    peak = max(bins) or 1.0
    lines = []
    for i, mass in enumerate(bins):
        label = f"{i * 10:>3}-{i * 10 + 9 + (1 if i == 9 else 0):<3}"
        lines.append(f"  {label} {'█' * round(width * mass / peak):<{width}} {100 * mass:5.1f}%")
    return "\n".join(lines)


@click.command()
@click.argument("image", type=click.Path())
@json_option
def show(image: str, as_json: bool) -> None:
    """Everything the library knows about one image: score, where it stands in your library ("better than
    83 % of your library's scores by this model"), distribution, critiques, ratings, provenance.

    \b
    Example:
      artimuse show ~/Exports/a.jpg
    """
    library = app().library()
    data = library.show(image)
    current = [e for e in data.evaluations if e.current]
    ranks = dict(
        zip(
            (e.evaluation_id for e in current),
            library.percentile_ranks([(e.fingerprint, e.dimension, e.score) for e in current]),
        )
    )
    if as_json:
        shown = data.to_dict()
        for evaluation in shown["evaluations"]:
            evaluation["percentile"] = ranks.get(evaluation["evaluation_id"])
        emit_json(shown)
        return
    secho(printable(data.path), bold=True)
    size = f"{data.width}x{data.height}" if data.width else "size unknown"
    category = data.category or "uncategorised"
    if data.category_source == "predicted" and data.category_confidence is not None:
        category += f" (predicted, p={data.category_confidence:.2f})"
    elif data.category_source:
        category += f" (from {data.category_source})"
    click.echo(f"  {size}, {category}{', MISSING on disk' if data.missing else ''}")
    for i, evaluation in enumerate(data.evaluations):
        if i and not evaluation.current:
            continue
        adapter = f" + {evaluation.adapter}" if evaluation.adapter else ""
        label = "score" if evaluation.dimension == PRIMARY_DIMENSION else evaluation.dimension  # also iqa, ista
        click.echo(
            f"\n  {label} {evaluation.score:.2f} ± {evaluation.std:.2f}   {evaluation.model}{adapter}"
            f"   {evaluation.created_at}"
        )
        if ranks.get(evaluation.evaluation_id) is not None:
            click.echo(f"  better than {ranks[evaluation.evaluation_id]:.0f} % of your library's scores by this model")
        if evaluation.distribution:
            click.echo(histogram(evaluation.distribution))
        click.echo(
            f"  provenance: fingerprint {evaluation.fingerprint}, prompt {evaluation.prompt_hash}, "
            f"{evaluation.device} {evaluation.dtype}, engine {evaluation.engine_version}"
        )
        for attribute, text in evaluation.critiques.items():
            secho(f"\n  {attribute}", underline=True)
            click.echo("  " + text.replace("\n", "\n  "))
    older = sum(1 for e in data.evaluations if not e.current)
    if older:
        click.echo(f"\n  ({older} older evaluation(s); --json shows them)")
    if data.ratings:
        latest = data.ratings[0]
        click.echo(
            f"\n  your decision: {decision_text(latest)}"
            + ("" if latest.source == "user" else f" (from {latest.source})")
        )
        click.echo(
            "  your ratings: "
            + ", ".join(
                (
                    "rejected"
                    if r.rejected
                    else ("cleared" if r.score is None and not r.picked else "")
                    + (f"{r.score:.0f}" + (f" ({r.stars:g}★)" if r.stars else "") if r.score is not None else "")
                    + (" picked" if r.picked else "")
                ).strip()
                + ("" if r.source == "user" else f" from {r.source}")
                for r in data.ratings
            )
        )


SEARCH_HELP = "\n\n".join(
    [
        "Search the critiques' text.",
        SEARCH_SYNTAX,
        '\b\nExamples:\n  artimuse search "leading lines"\n  artimuse search dumm                  finds dummy'
        "\n  artimuse search light OR shadow -noise",
    ]
)


@click.command(help=SEARCH_HELP, short_help="Search the critiques' text (prefixes, stems, phrases).")
@click.argument("query")
@limit_option(20)
@json_option
def search(query: str, limit: int, as_json: bool) -> None:
    hits = app().library().search(query, limit=limit)
    if as_json:
        emit_json(hits)
        return
    for hit in hits:
        secho(f"{printable(hit.path)}  ({hit.score:.1f}, {hit.attribute})", bold=True)
        click.echo("  " + hit.text[:300].replace("\n", " "))
    if not hits:
        click.echo("no critique matches")


@click.command()
@click.option("--model", "-m", help="Only scores by this model name.")
@click.option("--adapter", help="Only scores with this fine-tuned adapter ('none': the base model's only).")
@dimension_option("Percentiles of this score", default=PRIMARY_DIMENSION)
@json_option
def stats(model: str | None, adapter: str | None, dimension: str, as_json: bool) -> None:
    """Counts, and score percentiles per category (current scores of one dimension; of one model or adapter
    with --model, --adapter: scores of different weights are not comparable). `errors` counts files with an
    open error.

    \b
    Examples:
      artimuse stats --json
      artimuse stats --adapter my-taste
      artimuse stats --dimension iqa
    """
    data = app().library().stats(model=model, adapter=adapter, dimension=dimension)
    if as_json:
        emit_json(data)
        return
    click.echo("  ".join(f"{k}: {v}" for k, v in data.counts.items()))
    rows = [{"category": c, **v.to_dict()} for c, v in data.categories.items()]
    if rows:
        print_table(rows, ["category", "count", "mean", "p10", "p25", "p50", "p75", "p90"])


@click.command()
@limit_option(50)
@since_option
@click.option("--all", "everything", is_flag=True, help="Every error ever recorded, resolved ones too (history).")
@json_option
def errors(limit: int, since: str | None, everything: bool, as_json: bool) -> None:
    """Files that could not be scored, with the reason, newest first: each file once, with how many times it
    failed. An error is resolved (and leaves this list) when the same file later scores.

    \b
    Examples:
      artimuse errors --since 1d
      artimuse errors --all --json
    """
    entries = app().library().errors(limit=limit, since=_since(since), everything=everything)
    if as_json:
        emit_json(entries)
    elif entries:
        columns = (
            ["created_at", "resolved_at", "kind", "message"]
            if everything
            else ["created_at", "count", "kind", "message"]
        )
        print_table([e.to_dict() for e in entries], columns)
    else:
        click.echo(
            "no errors recorded" if everything else "no open errors (`artimuse errors --all` shows resolved ones)"
        )


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.argument("category")
@json_option
def categorize(paths: tuple[str, ...], category: str, as_json: bool) -> None:
    """Set the category of images by hand (it then wins over the model's prediction): files, folders
    (every library image under them) or both. CATEGORY comes last.

    \b
    Examples:
      artimuse categorize ~/Exports/a.jpg painting
      artimuse categorize ~/Exports/wedding ~/Exports/b.jpg photography
    """
    changed = app().library().set_categories(paths, category)
    if as_json:
        emit_json([{"path": p, "category": c} for p, c in changed])
        return
    for path, chosen in changed:
        click.echo(f"{printable(path)}: {chosen}")
    if not changed:
        raise click.ClickException("none of these paths is an image in the library (score them first)")


COMMANDS = [top, history, show, search, stats, errors, categorize]
