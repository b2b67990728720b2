"""What a walk sees: every file is to score, failed or passed over with a reason; globs follow the same
rules as folders; the run's summary line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from artimuse_core import decoders
from artimuse_core.files import (
    collect_images,
    inside,
    outcome_status,
    passed_over_label,
    run_summary,
    summary_line,
)
from tests import corpus


def _names(paths) -> list[str]:
    return sorted(Path(p).name for p in paths)


def test_summary_line_reads_like_the_issue_asks():
    assert (
        summary_line({"scored": 12, "cached": 3, "failed": 2}, {"RAW": 38, ".txt": 2})
        == "12 scored, 3 cached, 2 failed, 40 passed over: 38 RAW, 2 .txt"
    )
    assert summary_line({"scored": 5}) == "5 scored"
    assert summary_line({"failed": 1, "gone": 1}) == "0 scored, 1 failed, 1 gone"
    assert summary_line({}, {}) == "nothing to score: no files found"
    assert summary_line({}, {"RAW": 2}) == "nothing to score: 2 passed over: 2 RAW"
    assert (
        summary_line({"scored": 1}, {".xmp": 1, ".txt": 1, "RAW": 3})
        == "1 scored, 5 passed over: 3 RAW, 1 .txt, 1 .xmp"
    )


def test_result_statuses():
    assert outcome_status(True, None) == "scored"
    assert outcome_status(False, "corrupt") == "failed"
    assert outcome_status(False, "empty") == "failed"
    assert outcome_status(False, "gone") == "gone"
    assert [outcome_status(False, k) for k in ("special", "no_decoder", "thumbnail_only")] == ["passed_over"] * 3
    assert passed_over_label("no_decoder", "a/IMG_1.CR3") == "RAW"
    assert passed_over_label("no_decoder", "a/x.heic") == "HEIC"


def test_an_empty_folder_and_a_raw_only_folder_say_so(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    collected = collect_images([tmp_path / "empty"])
    assert not collected.files and not collected.problems and not collected.passed_over
    assert run_summary(collected, []) == "nothing to score: no files found"
    raw_only = tmp_path / "raw"
    raw_only.mkdir()
    corpus.write_dng(raw_only / "a.CR2")
    corpus.write_dng(raw_only / "b.NEF")
    monkeypatch.setattr(decoders, "available", lambda family: False)
    collected = collect_images([raw_only])
    assert not collected.files and run_summary(collected, []) == "nothing to score: 2 passed over: 2 RAW"
    assert all("pip install rawpy" in p.message for p in collected.passed_over)


def test_explicit_targets_of_every_kind(tmp_path):
    good = corpus.write_photo(tmp_path / "notes.txt.jpg", (32, 32))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    fifo = corpus.make_fifo(tmp_path / "pipe.jpg")
    loop = corpus.make_symlink_loop(tmp_path / "loop.jpg")
    dangling = corpus.make_broken_symlink(tmp_path / "dangling.jpg")
    collected = collect_images([good, text, fifo, loop, dangling, tmp_path / "missing.jpg", str(tmp_path / "*.webp")])
    # Named files go to decoding whatever their name (it decides); special files are never opened.
    assert collected.files == [good, text]
    assert [(p.kind, p.label) for p in collected.passed_over] == [("special", "FIFO")]
    kinds = {Path(path).name: kind for path, kind, _ in collected.problems}
    assert kinds == {
        "loop.jpg": "symlink_loop",
        "dangling.jpg": "broken_symlink",
        "missing.jpg": "missing",
        "*.webp": "missing",
    }
    assert all("\n" not in message for _, _, message in collected.problems)


def test_inside_never_raises_on_a_loop(tmp_path):
    loop = corpus.make_symlink_loop(tmp_path / "x.jpg")
    if sys.version_info < (3, 13):
        with pytest.raises(RuntimeError):  # what files.inside used to call
            loop.resolve()
    assert inside(loop, tmp_path) in (True, False)
    assert inside(tmp_path / "a" / ".." / "b.jpg", tmp_path) and not inside("/etc/passwd", tmp_path)


@pytest.fixture()
def linked_tree(tmp_path):
    """d/ with images, a subfolder, a symlinked folder pointing OUT of d and one pointing inside it, a
    symlinked file out of d, and a loop of folders."""
    d, out = tmp_path / "d", tmp_path / "private"
    (d / "sub").mkdir(parents=True)
    out.mkdir()
    corpus.write_photo(d / "a.jpg", (32, 32))
    corpus.write_photo(d / "b.png", (32, 32))
    corpus.write_photo(d / "sub" / "c.png", (32, 32))
    corpus.write_photo(d / "sub" / "d.jpg", (32, 32))
    corpus.write_photo(out / "secret.jpg", (32, 32))
    corpus.write_photo(out / "secret.png", (32, 32))
    os.symlink(out, d / "escape")  # a folder outside d
    os.symlink(out / "secret.jpg", d / "leak.jpg")  # a file outside d
    os.symlink("sub", d / "alias")  # a folder inside d (walked once, where it is)
    os.symlink(".", d / "sub" / "again")  # a loop of folders
    (d / "notes.txt").write_text("x")
    return d


def test_globs_never_follow_symlinks_out_of_the_folder(linked_tree):
    d = linked_tree
    flat = collect_images([str(d / "*.jpg")])
    assert _names(flat.files) == ["a.jpg"]
    assert [(Path(p.path).name, p.kind) for p in flat.passed_over] == [("leak.jpg", "outside")]
    deep = collect_images([str(d / "**" / "*.png")])
    assert _names(deep.files) == ["b.png", "c.png"]  # not private/secret.png through d/escape
    assert not any("secret" in str(p) for p in deep.files)
    everything = collect_images([str(d / "**" / "*")])
    assert _names(everything.files) == ["a.jpg", "b.png", "c.png", "d.jpg"]
    assert {Path(p.path).name: p.kind for p in everything.passed_over} == {
        "escape": "outside",
        "leak.jpg": "outside",
        "alias": "symlinked_folder",
        "again": "symlinked_folder",
        "notes.txt": "not_an_image_name",
    }


def test_a_glob_and_a_walk_of_the_same_folder_agree(linked_tree):
    walked = collect_images([linked_tree])
    globbed = collect_images([str(linked_tree / "**" / "*")])
    assert walked.files == globbed.files
    assert walked.passed_over == globbed.passed_over
    assert {Path(p.path).name: p.kind for p in walked.passed_over} == {
        "escape": "outside",
        "leak.jpg": "outside",
        "alias": "symlinked_folder",
        "again": "symlinked_folder",
        "notes.txt": "not_an_image_name",
    }


def test_python_glob_would_have_followed_the_links(linked_tree):
    import glob

    followed = glob.glob(str(linked_tree / "**" / "*.png"), recursive=True)
    assert any("secret" in p for p in followed)  # what a plain glob does: it follows the link out


def test_a_walk_with_a_fifo_and_a_loop_finishes(tmp_path):
    """A FIFO and a symlink loop, bounded in time: a walk that opened the FIFO would block for ever."""
    corpus.make_fifo(tmp_path / "x.jpg")
    corpus.make_symlink_loop(tmp_path / "y.jpg")
    corpus.write_photo(tmp_path / "z.jpg", (16, 16))
    collected = corpus.bounded(lambda: collect_images([tmp_path]), 30)
    assert (len(collected.files), len(collected.passed_over), len(collected.problems)) == (1, 1, 1)


def test_a_pattern_relative_to_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    corpus.write_photo(tmp_path / "a.jpg", (16, 16))
    corpus.write_photo(tmp_path / "sub" / "b.jpg", (16, 16))
    monkeypatch.chdir(tmp_path)
    assert [str(p) for p in collect_images(["*.jpg"]).files] == ["a.jpg"]
    assert [str(p) for p in collect_images(["**/*.jpg"]).files] == ["a.jpg", "sub/b.jpg"]
