"""Rendering for people (tables, through rich) and for scripts (json, jsonl, csv).

Tables measure text by display cells (CJK and emoji are two wide), never wrap a long path into the next
row's space on a terminal (it folds inside its own column), and honour ``NO_COLOR``. Into a pipe or file
they come out plain: no colour, no borders, no width limit, one line per row.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

from artimuse_core.paths import display_path

FORMATS = ("table", "json", "jsonl", "csv")


def emit_json(data: Any) -> None:
    """One JSON document (records and lists of records become plain data)."""
    click.echo(json.dumps(plain(data), indent=2, ensure_ascii=False))


def emit_jsonl(row: Any) -> None:
    """One JSON object on one line, flushed at once (so a reader sees each row as it is made)."""
    click.echo(json.dumps(plain(row), ensure_ascii=False))
    sys.stdout.flush()


def plain(data: Any) -> Any:
    """Records (anything with ``to_dict``) and containers of them as JSON-ready, printable data: a path
    that is not valid UTF-8 (lone surrogates from ``os.fsdecode``) is shown as ``paths.display_path``
    writes it (``caf\\xe9.png``), since no output can encode it as it is."""
    if hasattr(data, "to_dict"):
        return plain(data.to_dict())
    if isinstance(data, Mapping):
        return {k: plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [plain(v) for v in data]
    if isinstance(data, str):
        return printable(data)
    return data


def printable(text: str) -> str:
    """``text`` itself, or, when it holds lone surrogates (an undecodable file name), its display form."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return display_path(text)
    return text


def csv_cell(value: Any) -> Any:
    """A cell for CSV: lists and dicts as JSON, undecodable paths in their display form."""
    if isinstance(value, (dict, list)):
        return json.dumps(plain(value), ensure_ascii=False)
    return printable(value) if isinstance(value, str) else value


def csv_writer(columns: Sequence[str]) -> csv.DictWriter:
    writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    return writer


def emit_rows(rows: list[dict[str, Any]], fmt: str, columns: Sequence[str]) -> None:
    """Print ``rows`` in the chosen format; ``columns`` orders the table and the CSV."""
    if fmt == "json":
        emit_json(rows)
    elif fmt == "jsonl":
        for row in rows:
            emit_jsonl(row)
    elif fmt == "csv":
        writer = csv_writer(columns)
        for row in rows:
            writer.writerow({c: csv_cell(plain(row.get(c))) for c in columns})
    else:
        print_table(rows, columns)


def styled(text: str, **styles: Any) -> str:
    """``click.style`` unless ``NO_COLOR`` is set (click itself strips styles only off a terminal)."""
    return text if os.environ.get("NO_COLOR") else click.style(text, **styles)


def secho(text: str, *, err: bool = False, **styles: Any) -> None:
    click.echo(styled(text, **styles), err=err)


def cell(value: Any) -> str:
    """A table cell: '-' for nothing, two decimals for floats."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return printable(str(value))


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, terminal: bool | None = None) -> str:
    """``rows`` as a table of ``columns`` (headers in capitals), rendered for a terminal or for a pipe."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    terminal = sys.stdout.isatty() if terminal is None else terminal
    grid = Table(
        box=box.SIMPLE_HEAD if terminal else None,
        show_edge=False,
        pad_edge=False,
        highlight=False,
        header_style="bold" if terminal else "",
    )
    for column in columns:
        long = column in ("path", "message", "text")
        grid.add_column(
            column.upper(),
            overflow="fold" if long else "ellipsis",
            no_wrap=not long,
            justify="right" if column in _NUMERIC else "left",
        )
    for row in rows:
        grid.add_row(*[cell(row.get(c)) for c in columns])
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=terminal,
        width=None if terminal else 1_000_000,
        color_system="auto" if terminal else None,
        highlight=False,
        soft_wrap=not terminal,
    )
    if terminal:
        console.width = _terminal_width()
    console.print(grid)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())


def print_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
    click.echo(table(rows, columns))


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


_NUMERIC = {
    "score",
    "std",
    "lower_bound",
    "rank",
    "count",
    "mean",
    "p10",
    "p25",
    "p50",
    "p75",
    "p90",
    "train_size",
    "paper_srcc",
}
