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


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell for CSV: lists and dicts as JSON, undecodable paths in their display form, and any text that
    a spreadsheet would run as a formula (starting with ``= + - @``, tab or CR: a file named
    ``=cmd|calc.png``, an adapter named ``=HYPERLINK(...)``) escaped the OWASP way, with a leading ``'``
    (issue 12, item 7). Numbers stay numbers (a negative number is a float here, not text)."""
    if isinstance(value, (dict, list)):
        value = json.dumps(plain(value), ensure_ascii=False)
    if not isinstance(value, str):
        return value
    value = printable(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def lossless(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its path printable (``paths.display_path``: an undecodable byte as ``\\xNN``, control
    characters escaped) and, for scripts, ``path_bytes``: the path's exact bytes in hex
    (``bytes.fromhex(row["path_bytes"])`` is what ``open()`` takes), whatever its name."""
    path = row.get("path")
    if path is None:
        return row
    return dict(row, path=display_path(path), path_bytes=os.fsencode(path).hex())


def local_time(value: str) -> str:
    """A stored ISO time (UTC) in the user's local time with its zone, to the second: ``2026-11-30 06:12:00
    CET``; anything that is not a time is returned unchanged."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    if moment.tzinfo is None:
        return value
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or local.strftime("%z"))


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


def cell(value: Any, column: str = "") -> str:
    """A table cell: '-' for nothing, two decimals for floats, times in local time with the zone."""
    if value is None:
        return "-"
    if column in _TIMES and isinstance(value, str):
        return local_time(value)
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
        grid.add_row(*[cell(row.get(c), c) for c in columns])
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


_TIMES = {"created_at", "updated_at", "resolved_at", "first_seen", "last_seen"}
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
