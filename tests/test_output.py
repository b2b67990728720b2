"""Tables for people (rich): display widths of CJK and emoji, long paths, NO_COLOR, plain output into pipes."""

from __future__ import annotations

import re

from rich.cells import cell_len

from artimuse_cli.output import table

ROWS = [
    {"name": "日本語の写真.png", "score": 81.234, "path": "/a"},
    {"name": "🎨 art.png", "score": 7.0, "path": "/b"},
    {"name": "plain.png", "score": None, "path": "/c"},
]


def test_columns_line_up_by_display_width_with_cjk_and_emoji():
    lines = table(ROWS, ["name", "score", "path"], terminal=False).splitlines()
    assert lines[0].split() == ["NAME", "SCORE", "PATH"]
    # the PATH column starts at the same display column on every line
    starts = {cell_len(line[: line.index("/")]) for line in lines[1:]}
    assert len(starts) == 1
    assert "81.23" in lines[1] and lines[3].split()[1] == "-"


def test_a_long_path_stays_on_one_line_in_a_pipe():
    path = "/very/long/" + "folder/" * 60 + "photo.jpg"
    text = table([{"score": 1.0, "path": path}], ["score", "path"], terminal=False)
    assert len(text.splitlines()) == 2 and text.splitlines()[1].endswith(path)
    assert "\x1b[" not in text  # no colour codes into a pipe


def test_a_long_path_is_shortened_in_the_middle_on_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    path = "/very/long/" + "folder/" * 20 + "photo.jpg"
    text = table([{"score": 1.0, "category": "aigc", "path": path}], ["score", "category", "path"], terminal=True)
    lines = re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()
    assert all(cell_len(line) <= 60 for line in lines)
    body = [line for line in lines[2:] if line.strip()]
    assert len(body) == 1 and "1.00" in body[0] and "aigc" in body[0]  # one line: the row keeps its score
    assert body[0].endswith("/folder/photo.jpg") and "/very/long/" in body[0] and "…" in body[0]


def test_no_color_is_honoured_on_a_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in table(ROWS, ["name", "score"], terminal=True)  # bold headers normally
    monkeypatch.setenv("NO_COLOR", "1")
    text = table(ROWS, ["name", "score"], terminal=True)
    assert "\x1b[3" not in text and "\x1b[9" not in text  # no colours (bold is not a colour)
