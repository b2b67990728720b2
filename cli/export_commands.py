"""`artimuse export`: the library's scores to stdout as jsonl, json or csv, streamed (no model, no torch)."""

from __future__ import annotations

import sys
from typing import Any

import click

from artimuse_core import LibraryError

from .context import app
from .options import decision_option, dimension_option, format_option, json_option
from .output import csv_cell, csv_writer, emit_jsonl, lossless, plain

EXPORT_COLUMNS = [
    "path",
    "score",
    "std",
    "category",
    "model",
    "fingerprint",
    "adapter",
    "created_at",
    "current",
    "prompt_hash",
    "engine_version",
    "path_bytes",
    "dimension",  # new columns go last: existing CSV consumers keep their column positions
    "rating",
    "stars",
    "picked",
    "rejected",
]


@click.command()
@format_option(["jsonl", "json", "csv"], "jsonl (one object per line), json (one array) or csv.")
@json_option
@click.option("--all", "everything", is_flag=True, help="Every evaluation, not only the current ones.")
@click.option("--distribution", is_flag=True, help="Include the 101 probabilities (csv: as a JSON list).")
@dimension_option("Only scores of this dimension; default: every dimension, one row each")
@decision_option
def export(
    fmt: str, as_json: bool, everything: bool, distribution: bool, dimension: str | None, decision: str | None
) -> None:
    """Write the library's scores to stdout, streamed row by row (1 M rows need little memory), each with your
    own decision on the image: rating (0-100) and stars, picked, rejected.

    `path` is readable (a byte that is not UTF-8 as \\xNN); `path_bytes` is the exact name in hex, for
    scripts. csv cells that a spreadsheet would run as a formula (= + - @) start with a ' (OWASP). A database
    that fails mid-way ends the export with an error line and exit code 1, never silently short.

    \b
    Examples:
      artimuse export --format csv > library.csv
      artimuse export --json > library.json
      artimuse export --picked --format csv > picks.csv
    """
    fmt = "json" if as_json else fmt
    columns = EXPORT_COLUMNS + (["distribution"] if distribution else [])
    writer = csv_writer(columns) if fmt == "csv" else None
    first = True
    written = 0
    try:
        for record in app().library().export(current_only=not everything, dimension=dimension, rating=decision):
            _export_row(lossless(record.to_dict()), fmt, writer, distribution, first)
            first, written = False, written + 1
    except LibraryError as exc:
        sys.stdout.flush()
        raise LibraryError(f"export stopped after {written} row(s), the output is INCOMPLETE: {exc}") from exc
    if fmt == "json":
        click.echo("[]" if first else "\n]")
    sys.stdout.flush()


def _export_row(row: dict[str, Any], fmt: str, writer: Any, distribution: bool, first: bool) -> None:
    """One exported row in its format (json: the array's opening or separator comes first)."""
    for key in ("lower_bound", "critiques", "scores", "stds", "distributions"):
        row.pop(key)
    if not distribution:
        row.pop("distribution")
    if writer is not None:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    elif fmt == "jsonl":
        emit_jsonl(row)
    else:
        import json

        click.echo(("[\n" if first else ",\n") + json.dumps(plain(row), ensure_ascii=False), nl=False)


COMMANDS = [export]
