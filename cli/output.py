"""Rendering results for people (tables) and scripts (json, jsonl, csv)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable

import click

FORMATS = ("table", "json", "jsonl", "csv")


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def emit_rows(rows: list[dict], fmt: str, columns: list[str]) -> None:
    """Print ``rows`` (dicts) in the chosen format; ``columns`` orders the table and CSV."""
    if fmt == "json":
        emit_json(rows)
    elif fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: flat(row.get(c)) for c in columns})
    else:
        click.echo(table(rows, columns))


def flat(value):
    """A cell for CSV: lists and dicts as JSON."""
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def table(rows: Iterable[dict], columns: list[str]) -> str:
    rows = list(rows)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
