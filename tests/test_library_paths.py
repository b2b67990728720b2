"""The library and real folders: any path the OS gives, one image per file, renamed files,
superseded errors, what may be rated, explicit categories, filters and times. The fake engine scores; the
library, the database and the CLI are the real ones."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from tests import corpus


def _library(home):
    from artimuse_core.library import Library

    return Library(os.environ.get("ARTIMUSE_DATABASE_URL") or f"sqlite:///{home / 'library.db'}")


def _runs(fake_engines):
    return sum(len(getattr(e, "calls", [])) for e in fake_engines)


# ------------------------------------------------------------------------------------------- any path
def test_non_utf8_names_in_every_table_export_and_folder_filter(home, library_home, tmp_path, run):
    """``caf\\xe9.png`` and a folder ``\\xe9t\\xe9`` through score, errors, top --folder, export csv/jsonl
    (printable path + exact bytes), moves and the watcher's known_files."""
    folder = tmp_path / "shoot"
    folder.mkdir()
    latin = corpus.os_name(folder, b"\xe9t\xe9")
    latin.mkdir()
    good = corpus.write_photo(corpus.os_name(folder, b"caf\xe9.png"), (64, 48), seed=1)
    inner = corpus.write_photo(latin / "x.png", (64, 48), seed=2)
    corpus.write_truncated_jpeg(corpus.os_name(folder, b"r\xe9sum\xe9.jpg"))
    corpus.write_photo(folder / "plain.png", (64, 48), seed=3)

    scored = run("score", folder, "--format", "jsonl")
    assert scored.exit_code == 1, scored.output  # the truncated file
    rows = [json.loads(line) for line in scored.stdout.splitlines()]
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
    assert {k: v["status"] for k, v in by_name.items()} == {
        "caf\\xe9.png": "scored",
        "x.png": "scored",
        "r\\xe9sum\\xe9.jpg": "failed",
        "plain.png": "scored",
    }
    assert bytes.fromhex(by_name["caf\\xe9.png"]["path_bytes"]) == os.fsencode(good)

    errors = json.loads(run("errors", "--json").stdout)
    assert [e["path"] for e in errors] == [str(tmp_path / "shoot" / "r\\xe9sum\\xe9.jpg")]
    assert errors[0]["kind"] == "corrupt" and errors[0]["count"] == 1

    only_latin = json.loads(run("top", "--folder", latin, "--json").stdout)
    assert [r["path"] for r in only_latin] == [str(folder / "\\xe9t\\xe9" / "x.png")]

    exported = run("export", "--format", "csv").stdout
    table = list(csv.DictReader(io.StringIO(exported)))
    assert {bytes.fromhex(r["path_bytes"]) for r in table} == {
        os.fsencode(good),
        os.fsencode(inner),
        os.fsencode(folder / "plain.png"),
    }
    assert all("\udce9" not in line for line in exported.splitlines())
    lines = [json.loads(line) for line in run("export").stdout.splitlines()]
    assert {os.fsdecode(bytes.fromhex(r["path_bytes"])) for r in lines} == {
        str(good),
        str(inner),
        str(folder / "plain.png"),
    }

    with _library(home) as library:
        known = library.known_files(latin)
        assert set(known) == {str(inner)}
        renamed = corpus.os_name(folder, b"caf\xe9-2.png")
        os.rename(good, renamed)
        assert library.move(good, renamed)
        assert library.show(renamed).path == str(renamed)


def test_folder_filter_is_byte_exact_and_case_sensitive(home, library_home, tmp_path):
    """A folder named ``Shoot`` does not match ``shoot`` (SQLite's LIKE would), nor ``shoot2``."""
    from sqlalchemy import select

    from artimuse_core.library.records import file_facts
    from artimuse_core.library.session import under
    from artimuse_core.library.tables import images

    paths = []
    for name in ("shoot", "Shoot", "shoot2"):
        (tmp_path / name).mkdir()
        paths.append(corpus.write_photo(tmp_path / name / "a.png", (8, 8), seed=len(paths)))
    with _library(home) as library:
        library._run(
            lambda c: [
                c.execute(images.insert().values(path=str(file_facts(p).path), content_hash=str(i), size=1, mtime=0))
                for i, p in enumerate(paths)
            ]
        )
        found = library._run(
            lambda c: c.scalars(select(images.c.path).where(under(tmp_path / "shoot"))).all(), write=False
        )
    assert found == [str(paths[0])]


# ----------------------------------------------------------------------------------- one image per file
def test_two_spellings_of_one_file_are_one_image(home, library_home, tmp_path, run, monkeypatch):
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    corpus.write_photo(folder / "b.png", (32, 32), seed=4)
    os.symlink("b.png", folder / "link.png")  # a symlink inside the folder: the same file
    monkeypatch.chdir(folder)
    assert json.loads(run("score", "b.png", "--json").stdout)[0]["status"] == "scored"
    again = json.loads(run("score", "sub/../b.png", "--json").stdout)[0]
    assert again["status"] == "cached" and again["path"] == str(folder / "b.png")
    assert json.loads(run("score", "link.png", "--json").stdout)[0]["status"] == "cached"
    assert json.loads(run("stats", "--json").stdout)["counts"]["images"] == 1
    assert len(json.loads(run("top", "--json").stdout)) == 1


def test_a_symlink_out_of_the_folder_keeps_its_own_name(tmp_path):
    from artimuse_core.paths import path_key as absolute

    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    corpus.write_photo(tmp_path / "out" / "x.png", (8, 8))
    os.symlink(tmp_path / "out" / "x.png", tmp_path / "in" / "x.png")
    corpus.make_symlink_loop(tmp_path / "in" / "loop.jpg")
    assert absolute(tmp_path / "in" / "x.png") == str(tmp_path / "in" / "x.png")
    assert absolute(tmp_path / "in" / "loop.jpg") == str(tmp_path / "in" / "loop.jpg")  # never raises


def test_case_insensitive_folders_use_the_name_on_disk(tmp_path, monkeypatch):
    """On a case-insensitive file system (detected per folder) ``b.PNG`` is stored as the folder spells it."""
    from artimuse_core import paths

    corpus.write_photo(tmp_path / "B.png", (8, 8))
    assert paths.case_insensitive(str(tmp_path)) is False  # this test's own file system
    monkeypatch.setitem(paths._CASE_INSENSITIVE, str(tmp_path), True)
    assert paths.path_key(tmp_path / "b.PNG") == str(tmp_path / "B.png")


# ----------------------------------------------------------------------------------------- renamed file
def test_a_renamed_file_is_cached_and_keeps_its_history(home, library_home, tmp_path, run, fake_engines):
    folder = tmp_path / "d"
    folder.mkdir()
    corpus.write_photo(folder / "a.png", (32, 32), seed=5)
    first = json.loads(run("score", folder / "a.png", "--json").stdout)[0]
    assert run("rate", folder / "a.png", "--stars", "4").exit_code == 0
    calls = [len(e.calls) for e in fake_engines]
    os.rename(folder / "a.png", folder / "b.png")
    moved = json.loads(run("score", folder / "b.png", "--json").stdout)[0]
    assert moved["status"] == "cached" and moved["score"] == first["score"]
    assert [len(e.calls) for e in fake_engines[: len(calls)]] == calls and not any(
        e.calls for e in fake_engines[len(calls) :]
    )
    shown = json.loads(run("show", folder / "b.png", "--json").stdout)
    assert shown["ratings"][0]["stars"] == 4 and len(shown["evaluations"]) == 1
    # a copy (the original still there) is a new image, scored on its own
    shutil.copy(folder / "b.png", folder / "c.png")
    assert json.loads(run("score", folder / "c.png", "--json").stdout)[0]["status"] == "scored"


# ------------------------------------------------------------------------------------ superseded errors
def test_an_error_is_resolved_when_the_file_later_scores(home, library_home, tmp_path, run):
    folder = tmp_path / "d"
    folder.mkdir()
    target = folder / "slow.jpg"
    complete = corpus.write_photo(tmp_path / "complete.jpg", (64, 48), seed=6).read_bytes()
    for _ in range(2):  # copied slowly twice: two failures, one file
        target.write_bytes(complete[: len(complete) // 3])
        assert run("score", target).exit_code == 1
    corpus.write_photo(folder / "bad.jpg", (8, 8)).write_bytes(b"not an image at all")
    run("score", folder / "bad.jpg")
    open_errors = json.loads(run("errors", "--json").stdout)
    assert sorted((e["path"].rsplit("/", 1)[-1], e["count"]) for e in open_errors) == [("bad.jpg", 1), ("slow.jpg", 2)]
    assert json.loads(run("stats", "--json").stdout)["counts"]["errors"] == 2
    target.write_bytes(complete)
    assert run("score", target).exit_code == 0
    assert [e["path"].rsplit("/", 1)[-1] for e in json.loads(run("errors", "--json").stdout)] == ["bad.jpg"]
    assert json.loads(run("stats", "--json").stdout)["counts"]["errors"] == 1
    history = json.loads(run("errors", "--all", "--json").stdout)
    assert len(history) == 3 and sum(1 for e in history if e["resolved_at"]) == 2
    with _library(home) as library:
        assert library.resolve_errors([folder / "bad.jpg"]) == 1 and library.open_errors() == 0


def test_relative_paths_in_error_rows_are_stored_absolute(home, tmp_path, run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.jpg").write_bytes(b"garbage")
    run("score", "x.jpg")
    assert json.loads(run("errors", "--json").stdout)[0]["path"] == str(tmp_path / "x.jpg")


def test_migration_from_0007_keeps_rows_and_resolves_old_errors(tmp_path):
    """A library at the previous head (0007) with rows: upgraded in place, every row kept, the error of a
    file that scored later marked resolved, the other left open."""
    from alembic import command

    from artimuse_core.library import Library
    from artimuse_core.library.database import alembic_config, create_db_engine

    db = tmp_path / "old.db"
    engine = create_db_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0007")
    engine.dispose()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO images (id, path, content_hash, size, mtime, first_seen, last_seen, missing) "
            "VALUES (1, ?, 'h', 1, 0, '2026-11-01 10:00:00', '2026-11-01 10:00:00', 0)",
            (b"/photos/caf\xe9.png",),
        )
        conn.execute(
            "INSERT INTO evaluations (image_id, model_name, model_fingerprint, score, std, distribution, "
            "prompt_hash, engine_version, device, dtype, created_at, current) "
            "VALUES (1, 'm', 'f', 50, 1, '[]', 'p', 'v', 'cpu', 'float32', '2026-11-01 11:00:00', 1)"
        )
        conn.executemany(
            "INSERT INTO errors (path, kind, message, created_at) VALUES (?, 'truncated', 'x', ?)",
            [(b"/photos/caf\xe9.png", "2026-11-01 09:00:00"), ("/photos/other.png", "2026-11-01 09:30:00")],
        )
    with Library.at(db) as library:
        assert library.stats().counts["images"] == 1
        open_now = library.errors()
        everything = library.errors(everything=True)
    assert [e.path for e in open_now] == ["/photos/other.png"]
    assert len(everything) == 2 and {e.resolved_at for e in everything} == {None, "2026-11-01T11:00:00+00:00"}
    assert any(p.name.startswith("old.db.0007-") and p.name.endswith(".bak") for p in tmp_path.iterdir())


# ----------------------------------------------------------------------------------- what may be rated
def test_rate_only_images_the_library_can_read(home, library_home, tmp_path, run):
    (tmp_path / "notes.txt").write_text("shopping list")
    (tmp_path / "empty.jpg").write_bytes(b"")
    notes = run("rate", tmp_path / "notes.txt", "--score", "95")
    assert notes.exit_code != 0 and "notes.txt" in notes.output and "can be rated" in notes.output
    empty = run("rate", tmp_path / "empty.jpg", "--stars", "5")
    assert empty.exit_code != 0 and "empty file (0 bytes)" in empty.output
    assert "Traceback" not in notes.output + empty.output
    good = corpus.write_photo(tmp_path / "good.png", (16, 16))
    assert run("rate", good, "--stars", "5").exit_code == 0
    assert json.loads(run("stats", "--json").stdout)["counts"]["ratings"] == 1


# ------------------------------------------------------------------------------- also from the same run
def test_explicit_category_applies_to_cached_files_and_categorize_takes_many(home, library_home, tmp_path, run):
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(("a.png", "b.png", "sub/c.png")):
        corpus.write_photo(folder / name, (16, 16), seed=10 + i)
    run("score", folder, "-c", "photography")
    again = json.loads(run("score", folder, "-c", "aigc", "--json").stdout)
    assert {r["status"] for r in again} == {"cached"} and {r["category"] for r in again} == {"aigc"}
    assert {r["category"] for r in json.loads(run("top", "--json").stdout)} == {"aigc"}
    changed = run("categorize", folder / "a.png", folder / "sub", "painting", "--json")
    assert changed.exit_code == 0, changed.output
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in json.loads(changed.stdout)) == ["a.png", "c.png"]
    top = {r["path"].rsplit("/", 1)[-1]: r["category"] for r in json.loads(run("top", "--json").stdout)}
    assert top == {"a.png": "painting", "b.png": "aigc", "c.png": "painting"}
    missing = run("categorize", tmp_path / "nowhere.png", "painting")
    assert missing.exit_code != 0 and "not in the library" in missing.output


def test_adapter_filter_and_label(home, library_home, tmp_path, run):
    from artimuse_core.testing import FakeEngine

    image = corpus.write_photo(tmp_path / "a.png", (16, 16))
    run("score", image)
    tuned = run("score", image, "--json", engine=lambda spec: FakeEngine(spec.replace(adapter="=HYPERLINK(x)")))
    assert tuned.exit_code == 0, tuned.output
    both = json.loads(run("top", "--json").stdout)
    assert sorted(str(r["adapter"]) for r in both) == ["=HYPERLINK(x)", "None"]
    assert [r["adapter"] for r in json.loads(run("top", "--adapter", "none", "--json").stdout)] == [None]
    assert [r["adapter"] for r in json.loads(run("top", "--adapter", "=HYPERLINK(x)", "--json").stdout)] == [
        "=HYPERLINK(x)"
    ]
    assert "+ =HYPERLINK(x)" in run("top").stdout
    base = json.loads(run("stats", "--adapter", "none", "--json").stdout)
    tuned_stats = json.loads(run("stats", "--adapter", "=HYPERLINK(x)", "--json").stdout)
    base_score = next(r["score"] for r in both if r["adapter"] is None)
    (base_category,) = base["categories"]
    assert base["categories"][base_category]["count"] == 1 and base["categories"][base_category]["p50"] == base_score
    assert sum(c["count"] for c in tuned_stats["categories"].values()) == 1
    assert sum(c["count"] for c in json.loads(run("stats", "--json").stdout)["categories"].values()) == 2


def test_filtered_stats_match_numpy_quantiles(home, library_home, tmp_path):
    import numpy as np

    from artimuse_core.library import Library, ScoredFile, file_facts
    from artimuse_core.testing import FakeEngine

    files = [corpus.write_photo(tmp_path / f"{i}.png", (8, 8), seed=i) for i in range(23)]
    engine = FakeEngine()
    with Library.at(home / "library.db") as library:
        results = list(engine.evaluate(files, predict_category=False, critique=(), max_new_tokens=8))
        library.record_scores(
            [ScoredFile(file_facts(r.path), r, category="photography", category_source="option") for r in results]
        )
        filtered = library.stats(model=engine.provenance.model).categories["photography"]
        whole = library.stats().categories["photography"]
    scores = np.array([r.score for r in results])
    for q in (10, 25, 50, 75, 90):
        assert getattr(filtered, f"p{q}") == pytest.approx(np.quantile(scores, q / 100)) == getattr(whole, f"p{q}")
    assert filtered.count == 23 and filtered.mean == pytest.approx(scores.mean())


def test_times_are_aware_utc_shown_local_and_since_is_local(home, library_home, tmp_path, run, monkeypatch):
    import time

    from artimuse_core.library.queries import parse_since

    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no daylight saving
    time.tzset()
    try:
        assert parse_since("2026-11-30T05:12") == datetime(2026, 11, 29, 23, 42)
        assert parse_since("2026-11-30T05:12+00:00") == datetime(2026, 11, 30, 5, 12)
        image = corpus.write_photo(tmp_path / "a.png", (16, 16))
        run("score", image)
        row = json.loads(run("history", "--json").stdout)[0]
        stored = datetime.fromisoformat(row["created_at"])
        assert stored.utcoffset().total_seconds() == 0
        local = stored.astimezone().replace(tzinfo=None)
        assert local.strftime("%Y-%m-%d %H:%M:%S") + " IST" in run("history").stdout
        just_before = (local.replace(microsecond=0)).isoformat(timespec="seconds")
        assert len(json.loads(run("history", "--since", just_before, "--json").stdout)) == 1
        later = (datetime.now(timezone.utc).astimezone() + timedelta(hours=1)).replace(tzinfo=None, microsecond=0)
        assert json.loads(run("history", "--since", later.isoformat(), "--json").stdout) == []
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_watcher_jobs_keep_non_utf8_paths_and_complete_through_the_door(home, library_home, tmp_path):
    """A job for ``caf\\xe9.png`` round-trips its exact path and is completed by the door's transaction;
    a job queued under a ``..`` spelling is completed too (the door maps it to the library's spelling)."""
    from artimuse_core.library import Library, ingest
    from artimuse_core.testing import FakeEngine

    image = corpus.write_photo(corpus.os_name(tmp_path, b"caf\xe9.png"), (16, 16))
    (tmp_path / "sub").mkdir()
    other = corpus.write_photo(tmp_path / "b.png", (16, 16), seed=2)
    spelled = str(tmp_path / "sub" / ".." / "b.png")
    with Library.at(home / "library.db") as library:
        for path in (str(image), spelled):
            assert library.enqueue(path, 1, 0.0)
        jobs = {job.path: job.id for job in library.pending_jobs()}
        assert set(jobs) == {str(image), spelled}
        results = list(ingest(FakeEngine(), library, [image, spelled], jobs=jobs))
        assert {r.path for r in results} == {str(image), str(other)}
        assert library.pending_jobs() == [] and library.queue_length().get("score", 0) == 0
