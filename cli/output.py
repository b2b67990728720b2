"""Rendering for people (tables, through rich) and for scripts (json, jsonl, csv).

Tables measure text by display cells (CJK and emoji are two wide), keep every row on one line on a terminal
with its key columns whole (a long path shortened in the middle, long errors listed under the table), and
honour ``NO_COLOR``. Into a pipe or file they come out plain: no colour, no borders, no width limit, one
line per row. ``path_shown`` prints paths relative to the current folder when the user named them so.
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

from artimuse_core import display_path

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
    (spreadsheet formula injection). Numbers stay numbers (a negative number is a float here, not text)."""
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


def csv_writer(columns: Sequence[str]) -> csv.DictWriter[str]:
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


def progress_bar(total: int, unit: str, desc: str) -> Any:
    """A progress bar on stderr (only on a terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, disable=None, leave=False)


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


def table(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, terminal: bool | None = None, width: int | None = None
) -> str:
    """``rows`` as a table of ``columns`` (headers in capitals), rendered for a terminal or for a pipe.

    On a terminal (``width`` columns, default the terminal's) every row stays one line and keeps its key
    columns whole (path, scores, status...): a path too long is shortened in the middle (``/ph…/IMG_0101.jpg``:
    the file name stays), and long texts (error, message, note) that do not fit are listed under the table,
    wrapped, each after its row's path. Into a pipe rows are never shortened."""
    terminal = on_terminal() if terminal is None else terminal
    rows = list(rows)
    cells = [{c: cell(row.get(c), c) for c in columns} for row in rows]
    notes: list[tuple[str, str]] = []
    shown = list(columns)
    if terminal:
        width = width or _terminal_width()
        shown, notes = _fit(cells, shown, width)
    grid = _grid(cells, shown, terminal, keep=terminal)
    text = _render(grid, terminal, width)
    if notes:
        text += "\n" + _notes(notes, width or 100)
    return text


def _grid(cells: list[dict[str, str]], columns: Sequence[str], terminal: bool, keep: bool = False) -> Any:
    """A rich table of the cells; ``keep``: no column narrower than its widest cell (``_fit`` made them fit)."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    grid = Table(
        box=box.SIMPLE_HEAD if terminal else None,
        show_edge=False,
        pad_edge=False,
        highlight=False,
        header_style="bold" if terminal else "",
    )
    for column in columns:
        widest = max([cell_len(column), *(cell_len(row[column]) for row in cells)])
        grid.add_column(
            column.upper(),
            overflow="ellipsis",
            no_wrap=True,
            justify="right" if column in _NUMERIC else "left",
            min_width=widest if keep else None,
        )
    for row in cells:
        grid.add_row(*[row[c] for c in columns])
    return grid


def _render(grid: Any, terminal: bool, width: int | None) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=terminal,
        width=width if terminal else 1_000_000,
        color_system="auto" if terminal else None,
        highlight=False,
        soft_wrap=not terminal,
    )
    console.print(grid)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())


#: Columns shortened in the middle to fit (the end of a path is the file name), texts moved under the table,
#: and columns cut at the end first (a model or category name).
_PATHS = {"path", "image", "sidecar", "file"}
_TEXTS = {"error", "message", "note", "text", "reason"}
_SOFT = {"category", "model", "adapter", "source", "fingerprint", "kind"}
GAP = 3  # between two columns: rich's padding on each side and the (blank) box rule
MIN_PATH = 16
SOFT_WIDTH = 14


def _fit(cells: list[dict[str, str]], columns: list[str], width: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Shorten ``cells`` (in place) so one row fits ``width``; returns the columns kept and the notes (row
    label, text) of the texts moved under the table."""
    from rich.cells import cell_len

    def natural(column: str) -> int:
        return max([cell_len(column), *(cell_len(row[column]) for row in cells)])

    def total(chosen: list[str]) -> int:
        return sum(natural(c) for c in chosen) + GAP * (len(chosen) - 1)

    notes: list[tuple[str, str]] = []
    if total(columns) > width:
        for column in [c for c in columns if c in _TEXTS]:
            label = next((c for c in columns if c in _PATHS), None)
            for row in cells:
                if row[column] not in ("", "-"):
                    notes.append((row[label] if label else "", row[column]))
            columns = [c for c in columns if c != column]
    for column in [c for c in columns if c in _SOFT]:
        if total(columns) <= width:
            break
        for row in cells:
            row[column] = ellipsis_end(row[column], SOFT_WIDTH)
    paths = [c for c in columns if c in _PATHS]
    if paths and total(columns) > width:
        room = max(MIN_PATH, (width - total([c for c in columns if c not in paths]) - GAP * len(paths)) // len(paths))
        for column in paths:
            for row in cells:
                row[column] = ellipsis_middle(row[column], room)
    return columns, notes


def ellipsis_middle(text: str, width: int) -> str:
    """``text`` at most ``width`` display cells, shortened in the middle with the end (a file name) kept."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    tail_room = max(1, (width - 1) * 2 // 3)
    tail = text
    while cell_len(tail) > tail_room:
        tail = tail[1:]
    head = set_cell_size(text, width - 1 - cell_len(tail)).rstrip()
    return head + "…" + tail


def ellipsis_end(text: str, width: int) -> str:
    """``text`` at most ``width`` display cells, cut at the end with an ellipsis."""
    from rich.cells import cell_len, set_cell_size

    return text if cell_len(text) <= width else set_cell_size(text, width - 1).rstrip() + "…"


def _notes(notes: list[tuple[str, str]], width: int) -> str:
    """The texts that did not fit, one per row, wrapped to ``width``: ``  IMG_1.jpg: the error ...``."""
    import textwrap

    lines = []
    for label, text in notes:
        lines += textwrap.wrap(
            f"{label}: {text}" if label else text,
            width=max(20, width - 2),
            initial_indent="  ",
            subsequent_indent="    ",
        )
    return "\n".join(lines)


def print_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
    click.echo(table(rows, columns))


def path_shown(named: Iterable[str | os.PathLike[str]]) -> Any:
    """How a command prints the paths of its rows: relative to the current folder when every path the user
    named (``named``) was relative, else as stored (absolute); always printable (``display_path``)."""
    relative = all(not os.path.isabs(os.path.expanduser(os.fsdecode(p))) for p in named)
    here = os.getcwd()

    def shown(path: str | os.PathLike[str]) -> str:
        text = os.fsdecode(path)
        if relative and os.path.isabs(text):
            inside = os.path.relpath(text, here)
            text = text if inside.startswith(os.pardir) else inside
        return display_path(text)

    return shown


def on_terminal() -> bool:
    """Whether standard output is a terminal (tables are laid out for its width) rather than a pipe."""
    return sys.stdout.isatty()


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
