"""Every file of a hostile corpus and of a messy export folder gets its exact outcome (scored / failed with
its kind / passed over with its reason / gone), through collect_images + decode_many and through
`artimuse score DIR --no-save` on the tiny checkpoint; nothing hangs (each run bounded in time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from click.testing import CliRunner

from artimuse_core import decoders
from artimuse_core.errors import ImageError
from artimuse_core.files import collect_images, outcome_status, passed_over_label, run_summary, summary_line
from artimuse_core.images import decode_many
from artimuse_core.paths import display_path
from tests import corpus

GENERATORS = {"hostile": corpus.hostile_corpus, "messy": corpus.messy_export_folder}


@pytest.fixture(params=sorted(GENERATORS))
def built(request, tmp_path):
    return GENERATORS[request.param](tmp_path / request.param, seed=7)


def test_every_file_gets_its_exact_outcome(built):
    seen = corpus.bounded(lambda: corpus.observe([built.root], before_decode=built.vanish), 120)
    expected = built.by_path()
    assert set(seen) == set(expected), "files unaccounted for, or seen though hidden"
    wrong = []
    for path, case in expected.items():
        got, want = seen[path], case.expected
        facts = (got.status, got.kind)
        if got.status == "passed_over":
            facts += (got.label,)
        if facts != (want.status, want.kind) + ((want.label,) if want.status == "passed_over" else ()):
            wrong.append((case.name, facts, want))
            continue
        if want.status == "scored":
            decoded = got.decoded
            if want.decoder and decoded.decoder != want.decoder:
                wrong.append((case.name, decoded.decoder, want.decoder))
            if want.size and (decoded.width, decoded.height) != want.size:
                wrong.append((case.name, (decoded.width, decoded.height), want.size))
            if bool(want.warning) != bool(decoded.warnings) or (
                want.warning and not any(want.warning in w for w in decoded.warnings)
            ):
                wrong.append((case.name, decoded.warnings, want.warning))
        elif got.message:
            assert "\n" not in got.message and got.message.encode("utf-8")  # one printable line
            assert got.message.startswith(display_path(path))
    assert not wrong, wrong


def test_the_corpus_covers_every_kind(tmp_path):
    """The generators hold every kind of bad input the product handles, so a lost case fails here, not silently."""
    names = set(corpus.hostile_corpus(tmp_path / "h").by_name()) | set(
        corpus.messy_export_folder(tmp_path / "m").by_name()
    )
    assert {
        "malformed_exif_png",
        "two_page_tiff",
        "symlink_loop",
        "fifo",
        "socket",
        "zero_bytes",
        "truncated_jpeg",
        "decompression_bomb",
        "vanishes_mid_run",
        "non_utf8_good",
        "non_utf8_broken",
        "dng_preview",
        "dng_thumbnail_only",
        "raw_cr2",
        "raw_nef",
        "jxl",
        "heic",
        "avif",
        "sixteen_bit_png",
        "exif_rotated_jpeg",
        "text",
        "hidden",
        "symlink_outside",
        "symlinked_folder",
        "half_copied",
        "partial_download",
        "shoot_xmp_1",
        "broken_symlink",
    } <= names


def test_the_summary_of_a_messy_folder(tmp_path):
    built = corpus.messy_export_folder(tmp_path / "m", seed=3)
    collected = collect_images([built.root])
    built.vanish()
    rows = [{"path": p, "status": "failed", "error_kind": k} for p, k, _ in collected.problems]
    for source, item in zip(collected.files, decode_many(collected.files)):
        kind = item.kind if isinstance(item, ImageError) else None
        rows.append({"path": os.fspath(source), "status": outcome_status(kind is None, kind), "error_kind": kind})
    want = Counter(c.expected.status for c in built.cases)
    labels = Counter(c.expected.label for c in built.cases if c.expected.status == "passed_over")
    line = run_summary(collected, rows)
    assert line == summary_line(want, labels)
    assert line.startswith(f"{want['scored']} scored, {want['failed']} failed, 1 gone, ")


# ------------------------------------------------------------------------------------------------ CLI
def _score(root, model, *extra, timeout=600):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "artimuse_cli",
            "score",
            os.fspath(root),
            "--no-save",
            "--model",
            str(model),
            "--format",
            "jsonl",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_the_cli_accounts_for_every_file(tiny_chat, tmp_path, generator):
    built = GENERATORS[generator](tmp_path / generator, seed=11)
    built.vanish()  # the CLI cannot be paused mid-run: a vanished file is simply not there
    run = _score(built.root, tiny_chat)
    assert run.returncode == 1, run.stderr  # some files fail; the run still ends, with every good one scored
    rows = {row["path"]: row for row in map(json.loads, run.stdout.splitlines())}
    expected = {display_path(c.path): c for c in built.cases if c.expected.status != "gone"}
    counts, labels = Counter(), Counter()
    for shown, case in expected.items():
        want = case.expected
        row = rows.pop(shown)
        if want.status == "passed_over" and want.kind != "thumbnail_only":  # passed over by the walk
            assert (row["status"], row["error_kind"], row["score"]) == ("passed_over", want.kind, None), row
            assert row["error"].startswith(f"{shown}: ")  # the reason, after the printable path
            labels[want.label] += 1
            continue
        if want.status == "passed_over":
            assert (row["status"], row["error_kind"]) == ("passed_over", want.kind)
            labels[passed_over_label(want.kind, shown)] += 1
        elif want.status == "scored":
            assert row["status"] == "scored" and 0 <= row["score"] <= 100, row
            assert (row["width"], row["height"]) == want.size and row["decoder"] == want.decoder
            assert bool(row["warnings"]) == bool(want.warning)
        else:
            assert (row["status"], row["error_kind"]) == ("failed", want.kind), row
        counts[want.status] += 1
    assert not rows, f"rows for files the corpus does not know: {list(rows)}"
    summary = summary_line(counts, labels)
    assert summary in run.stderr.splitlines(), run.stderr
    assert [line for line in run.stderr.splitlines() if " scored, " in line] == [summary]  # one summary line
    assert "16-bit" in run.stderr and "Traceback" not in run.stderr


def test_nothing_to_score_says_so_without_loading_a_model(tmp_path, monkeypatch):
    from artimuse_cli.main import cli

    empty = tmp_path / "empty"
    empty.mkdir()
    raw_only = tmp_path / "raw"
    raw_only.mkdir()
    corpus.write_dng(raw_only / "a.CR2")
    corpus.write_dng(raw_only / "b.dng")
    (raw_only / ".DS_Store").write_bytes(b"\0")
    monkeypatch.setattr(decoders, "available", lambda family: False)
    for folder, line in (
        (empty, "nothing to score: no files found"),
        (raw_only, "nothing to score: 3 passed over: 2 RAW, 1 hidden"),
    ):
        # A model that does not exist: loading it would fail with exit code 2.
        result = CliRunner().invoke(cli, ["score", str(folder), "--no-save", "--model", str(tmp_path / "nope")])
        assert result.exit_code == 0 and line in result.stderr and result.stdout == "", result.output
