"""Scores per dimension everywhere: the CLI's columns and --dimension, the library's one row per
dimension (migration 0010 keeps every older row as iaa), top/stats/export by dimension, the cache returning
every dimension, and `artimuse ask`. The fake engine scores (as UniPercept with ``--family unipercept``); the
library, the config and the CLI are the real ones."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from alembic import command

from artimuse_core.library import Library
from artimuse_core.library.database import alembic_config, create_db_engine, current_revision, head_revision
from artimuse_core.library.migrations import HEAD
from artimuse_core.library.stats import library_stats


@pytest.fixture()
def shoot(tmp_path, mixed_images):
    folder = tmp_path / "shoot"
    folder.mkdir()
    for p in mixed_images[:6]:
        shutil.copy(p, folder / p.name)
    return folder


def test_unipercept_scores_show_as_columns_and_are_stored_per_dimension(home, library_home, shoot, run_cli):
    scored = run_cli("score", shoot, "--family", "unipercept", "--format", "json")
    assert scored.exit_code == 0, scored.output
    rows = json.loads(scored.stdout)
    assert len(rows) == 6 and all(list(r["scores"]) == ["iaa", "iqa", "ista"] for r in rows)
    assert all(r["score"] == r["scores"]["iaa"] and r["provenance"]["family"] == "UniPercept" for r in rows)
    assert len({r["scores"]["iqa"] for r in rows}) == 6  # not a copy of one number

    table = run_cli("score", shoot, "--family", "unipercept", "--no-save").stdout
    header = table.lower().splitlines()[0].split()
    assert header[:4] == ["path", "iaa", "iqa", "ista"] and "std" not in header
    only = run_cli("score", shoot, "--family", "unipercept", "--no-save", "--dimension", "iqa").stdout
    assert only.lower().splitlines()[0].split()[:3] == ["path", "iqa", "category"]
    csv = run_cli("score", shoot, "--family", "unipercept", "--no-save", "-f", "csv").stdout
    assert csv.splitlines()[0].startswith("path,iaa,iqa,ista,category")

    # The library: one current row per dimension; rankings, stats and export by dimension.
    by_iqa = sorted(rows, key=lambda r: r["scores"]["iqa"], reverse=True)
    top = json.loads(run_cli("top", "--dimension", "iqa", "--json").stdout)
    assert [t["path"] for t in top] == [r["path"] for r in by_iqa]
    assert [t["score"] for t in top] == pytest.approx([r["scores"]["iqa"] for r in by_iqa])
    assert all(t["dimension"] == "iqa" for t in top)
    assert run_cli("top", "--dimension", "ista").stdout.lower().splitlines()[0].split()[:3] == ["rank", "ista", "std"]
    default = json.loads(run_cli("top", "--json").stdout)
    assert [t["score"] for t in default] == sorted((r["scores"]["iaa"] for r in rows), reverse=True)
    stats = json.loads(run_cli("stats", "--dimension", "ista", "--json").stdout)
    ista = sorted(r["scores"]["ista"] for r in rows)
    assert sum(c["count"] for c in stats["categories"].values()) == 6
    assert stats["counts"]["evaluations"] == 18
    assert min(c["p10"] for c in stats["categories"].values()) >= ista[0] - 1e-9
    exported = [json.loads(line) for line in run_cli("export").stdout.splitlines()]
    assert sorted(e["dimension"] for e in exported) == ["iaa"] * 6 + ["iqa"] * 6 + ["ista"] * 6
    only_iqa = run_cli("export", "--dimension", "iqa", "-f", "csv").stdout.splitlines()
    header = only_iqa[0].split(",")
    assert header[:2] == ["path", "score"] and header[12:] == ["dimension", "rating", "stars", "picked", "rejected"]
    assert len(only_iqa) == 7 and all(line.split(",")[12] == "iqa" for line in only_iqa[1:])

    shown = run_cli("show", rows[0]["path"]).stdout
    assert f"iqa {rows[0]['scores']['iqa']:.2f}" in shown and f"ista {rows[0]['scores']['ista']:.2f}" in shown

    # Scoring again: every dimension comes back from the cache.
    again = json.loads(run_cli("score", shoot, "--family", "unipercept", "--format", "json").stdout)
    assert all(r["status"] == "cached" for r in again)
    assert [r["scores"] for r in again] == [r["scores"] for r in rows]


def test_a_dimension_the_model_does_not_score_is_a_clear_error(home, shoot, run_cli):
    result = run_cli("score", shoot, "--dimension", "iqa", "--no-save")
    assert result.exit_code == 2
    assert "dimension must be one of iaa for ArtiMuse, not 'iqa'" in result.output
    assert "--dimension" in run_cli("score", "--help").stdout and "ista" in run_cli("top", "--help").stdout


def test_artimuse_rows_keep_their_shape(home, shoot, run_cli):
    rows = json.loads(run_cli("score", shoot, "--format", "json").stdout)
    assert all(r["scores"] == {"iaa": r["score"]} for r in rows)
    assert run_cli("score", shoot, "--no-save").stdout.lower().splitlines()[0].split()[:3] == ["path", "score", "std"]


def test_ask_answers_each_image(home, shoot, run_cli, tmp_path):
    files = sorted(shoot.iterdir())[:2]
    result = run_cli("ask", *files, "Describe the quality of this image.", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["question"] for r in rows] == ["Describe the quality of this image."] * 2
    assert all(r["text"] and r["error"] is None for r in rows)
    single = run_cli("ask", files[0], "Describe it.")
    assert single.exit_code == 0 and single.stdout.strip().endswith(".")
    missing = run_cli("ask", tmp_path / "nope.jpg", "Describe it.", "--json")
    assert missing.exit_code == 1 and json.loads(missing.stdout)[0]["error_kind"] == "missing"
    assert run_cli("ask", files[0], "  ").exit_code == 2


def test_migration_from_the_previous_head_keeps_every_row_as_iaa(tmp_path):
    path = tmp_path / "previous.db"
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0007")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO images (id, path, content_hash, size, mtime, category, first_seen, last_seen, "
            "missing) VALUES (1, '/x.png', 'h', 1, 0, 'aigc', '2026-01-01', '2026-01-01', 0), "
            "(2, '/y.png', 'g', 1, 0, NULL, '2026-01-01', '2026-01-01', 0)"
        )
        conn.execute(
            "INSERT INTO evaluations (id, image_id, model_name, model_fingerprint, score, std, distribution,"
            " prompt_hash, engine_version, device, dtype, created_at, current, category) VALUES "
            "(1, 1, 'm', 'f', 42.0, 3.0, '[1.0]', 'p', '0', 'cpu', 'float32', '2026-01-01', 0, 'aigc'), "
            "(2, 1, 'm', 'f', 44.5, 3.0, '[1.0]', 'p', '0', 'cpu', 'float32', '2026-01-02', 1, 'aigc'), "
            "(3, 2, 'm', 'f', 61.0, 2.0, '[1.0]', 'p', '0', 'cpu', 'float32', '2026-01-02', 1, NULL)"
        )
        conn.execute("INSERT INTO critiques VALUES (1, 2, 'Overall Gestalt', 'Leading lines', '2026-01-01')")
        conn.execute("INSERT INTO ratings VALUES (1, 1, 70.0, 4.0, '2026-01-01')")
    engine.dispose()
    with Library.at(path) as library:
        assert current_revision(library.engine) == head_revision() == HEAD
        with library.engine.connect() as conn:
            kept = conn.exec_driver_sql("SELECT id, dimension, score, current FROM evaluations ORDER BY id").all()
            scanned = library_stats(conn, scan=True)
        assert [tuple(r) for r in kept] == [(1, "iaa", 42.0, 0), (2, "iaa", 44.5, 1), (3, "iaa", 61.0, 1)]
        stats = library.stats()
        assert stats == scanned
        assert stats.counts["evaluations"] == 3 and stats.counts["critiques"] == 1 and stats.counts["ratings"] == 1
        assert stats.categories["aigc"].p50 == 44.5 and stats.categories["uncategorised"].count == 1
        assert library.stats(dimension="iqa").categories == {}
        assert [r.score for r in library.top()] == [61.0, 44.5]
        assert library.top(dimension="iqa") == []
        assert [h.score for h in library.search("leading")] == [44.5]


def test_percentiles_of_a_dimension_count_only_that_dimension(home, library_home, shoot, run_cli):
    """`top --percentile` for UniPercept: an iqa score is ranked among the library's other iqa scores, never
    among iaa and ista (three rows per image, one model fingerprint)."""
    rows = json.loads(run_cli("score", shoot, "--family", "unipercept", "--format", "json").stdout)
    iqa = [r["scores"]["iqa"] for r in rows]
    ranked = json.loads(run_cli("top", "--dimension", "iqa", "--percentile", "--json").stdout)
    for row in ranked:
        others = list(iqa)
        others.remove(row["score"])
        below, tied = sum(s < row["score"] for s in others), sum(s == row["score"] for s in others)
        assert row["percentile"] == pytest.approx(100 * (below + 0.5 * tied) / len(others))
    assert ranked[0]["percentile"] == 100 and ranked[-1]["percentile"] == 0
